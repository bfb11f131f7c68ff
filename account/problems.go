package account

import (
	"slices"
	"strings"
)

// Problems are what is wrong with the input of an operation, field by
// field: the first message of each field, in the order checked (the page
// order), so a form shows every error at once and focus goes to the first.
type Problems struct {
	Fields map[string]string
	Order  []string
}

// Add records msg for field unless msg is empty or the field already has
// a message.
func (p *Problems) Add(field, msg string) {
	if msg == "" {
		return
	}
	if p.Fields == nil {
		p.Fields = map[string]string{}
	}
	if _, seen := p.Fields[field]; seen {
		return
	}
	p.Fields[field] = msg
	p.Order = append(p.Order, field)
}

// inPageOrder puts the fields in the order given (the page order), so
// that a problem found later (a name found taken after the shape checks)
// still takes focus when its field comes first.
func (p *Problems) inPageOrder(fields ...string) {
	order := p.Order[:0:0]
	for _, f := range fields {
		if p.Has(f) {
			order = append(order, f)
		}
	}
	for _, f := range p.Order {
		if !slices.Contains(order, f) {
			order = append(order, f)
		}
	}
	p.Order = order
}

// Has reports whether field has a message.
func (p *Problems) Has(field string) bool {
	_, ok := p.Fields[field]
	return ok
}

// Empty reports whether nothing is wrong.
func (p *Problems) Empty() bool { return p == nil || len(p.Order) == 0 }

// Err returns p as an error, or nil when nothing is wrong.
func (p *Problems) Err() error {
	if p.Empty() {
		return nil
	}
	return p
}

func (p *Problems) Error() string {
	parts := make([]string, len(p.Order))
	for i, f := range p.Order {
		parts[i] = f + ": " + p.Fields[f]
	}
	return "account: " + strings.Join(parts, "; ")
}

package account

import (
	"context"
	"strings"

	"gatehouse/db"
	"gatehouse/rules"
)

// maxGroups bounds the groups of one account: far more than anyone
// names, and it keeps every forward-auth answer's Remote-Groups short.
const maxGroups = 100

// SplitGroups reads groups as typed, on the admin page or to
// `gatehouse user groups`: comma-separated, spaces around names ignored,
// empty entries dropped (an empty list clears them).
func SplitGroups(typed string) []string {
	var groups []string
	for _, g := range strings.Split(typed, ",") {
		if g = strings.TrimSpace(g); g != "" {
			groups = append(groups, g)
		}
	}
	return groups
}

// GroupsDetail is what the admin log says of a change of groups, from
// the page or the command line: the names as given, or "none".
func GroupsDetail(groups []string) string {
	if len(groups) == 0 {
		return "none"
	}
	return strings.Join(groups, ", ")
}

// SetGroups replaces the account's groups (product.md §11): each name
// 1–32 characters of a–z, 0–9, _ and -; an empty list clears them. The
// next forward-auth check sees them. It returns *Problems (field
// "groups") for a bad name, db.ErrNotFound when the account is gone.
// actorID is the admin who made the change, 0 for the command line.
func (s *Service) SetGroups(ctx context.Context, user *db.User, groups []string, actorID int64) error {
	var p Problems
	if len(groups) > maxGroups {
		p.Add("groups", rules.MsgGroupsTooMany)
	}
	for _, g := range groups {
		if msg := rules.GroupError(g); msg != "" {
			p.Add("groups", msg)
			break
		}
	}
	if err := p.Err(); err != nil {
		return err
	}
	if err := s.store.SetGroups(ctx, user.ID, groups); err != nil {
		return err
	}
	joined := db.JoinGroups(groups)
	s.log.Info("groups set", "user_id", user.ID, "groups", joined)
	e := db.Event{UserID: user.ID, Kind: EventAdminAction, Detail: "groups set: " + strings.ReplaceAll(joined, ",", ", ")}
	if joined == "" {
		e.Detail = "groups cleared"
	}
	e.ActorID = actorID
	s.Record(ctx, e)
	return nil
}

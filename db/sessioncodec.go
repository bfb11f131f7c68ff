package db

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"time"

	"github.com/alexedwards/scs/v2"
)

// SessionCodec is how scs session data is stored in the sessions table.
// scs's default, gob, builds a new decoder with its type descriptions for
// every request; on a signed-in page view that was a fifth of Gatehouse's
// CPU time (see docs/PERFORMANCE.md). This codec writes the few value
// types Gatehouse keeps in a session (the session id, a notice) in a small
// binary form and decodes them without reflection. Any other value type
// makes it fall back to gob for that session, and data that does not
// start with its marker is decoded as gob, so rows written by scs's
// default codec keep working.
type SessionCodec struct{}

var _ scs.Codec = SessionCodec{}

// codecMarker starts every session this codec writes. A gob stream starts
// with its message length: a byte below 0x80, or a negated byte count
// (0xF8-0xFF), never 0x80.
const (
	codecMarker  = 0x80
	codecVersion = 1
)

// Value types of the binary form.
const (
	tagString byte = iota + 1
	tagInt64
	tagInt
	tagBool
	tagFloat64
	tagTime
	tagBytes
)

var errCodec = errors.New("db: malformed session data")

// Encode implements scs.Codec.
func (SessionCodec) Encode(deadline time.Time, values map[string]interface{}) ([]byte, error) {
	b := make([]byte, 0, 64)
	b = append(b, codecMarker, codecVersion)
	var err error
	if b, err = appendTime(b, deadline); err != nil {
		return nil, err
	}
	b = binary.AppendUvarint(b, uint64(len(values)))
	for k, v := range values {
		b = appendString(b, k)
		switch v := v.(type) {
		case string:
			b = appendString(append(b, tagString), v)
		case int64:
			b = binary.AppendVarint(append(b, tagInt64), v)
		case int:
			b = binary.AppendVarint(append(b, tagInt), int64(v))
		case bool:
			t := byte(0)
			if v {
				t = 1
			}
			b = append(b, tagBool, t)
		case float64:
			b = binary.BigEndian.AppendUint64(append(b, tagFloat64), math.Float64bits(v))
		case time.Time:
			if b, err = appendTime(append(b, tagTime), v); err != nil {
				return nil, err
			}
		case []byte:
			b = appendString(append(b, tagBytes), string(v))
		default:
			return scs.GobCodec{}.Encode(deadline, values)
		}
	}
	return b, nil
}

// Decode implements scs.Codec.
func (SessionCodec) Decode(b []byte) (time.Time, map[string]interface{}, error) {
	if len(b) == 0 || b[0] != codecMarker {
		return scs.GobCodec{}.Decode(b)
	}
	if len(b) < 2 || b[1] != codecVersion {
		return time.Time{}, nil, errCodec
	}
	d := decoder{b: b[2:]}
	deadline := d.time()
	n := d.uvarint()
	if d.err != nil || n > uint64(len(d.b)) {
		return time.Time{}, nil, errCodec
	}
	values := make(map[string]interface{}, n)
	for range n {
		k := d.string()
		var v interface{}
		switch d.byte() {
		case tagString:
			v = d.string()
		case tagInt64:
			v = d.varint()
		case tagInt:
			v = int(d.varint())
		case tagBool:
			v = d.byte() == 1
		case tagFloat64:
			v = math.Float64frombits(d.uint64())
		case tagTime:
			v = d.time()
		case tagBytes:
			v = bytes.Clone(d.bytes())
		default:
			d.err = errCodec
		}
		if d.err != nil {
			return time.Time{}, nil, errCodec
		}
		values[k] = v
	}
	if len(d.b) != 0 {
		return time.Time{}, nil, errCodec
	}
	return deadline, values, nil
}

func appendString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

// appendTime keeps the instant and the zone offset, as gob does.
func appendTime(b []byte, t time.Time) ([]byte, error) {
	mt, err := t.MarshalBinary()
	if err != nil {
		return nil, err
	}
	return appendString(b, string(mt)), nil
}

// decoder reads the binary form; the first error sticks.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail() { d.err, d.b = errCodec, nil }

func (d *decoder) byte() byte {
	if len(d.b) < 1 {
		d.fail()
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) uint64() uint64 {
	if len(d.b) < 8 {
		d.fail()
		return 0
	}
	v := binary.BigEndian.Uint64(d.b)
	d.b = d.b[8:]
	return v
}

// bytes returns the next length-prefixed field as a view into the input,
// so each caller copies it at most once.
func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if d.err != nil || n > uint64(len(d.b)) {
		d.fail()
		return nil
	}
	p := d.b[:n:n]
	d.b = d.b[n:]
	return p
}

func (d *decoder) string() string { return string(d.bytes()) }

func (d *decoder) time() time.Time {
	p := d.bytes()
	if d.err != nil {
		return time.Time{}
	}
	var t time.Time
	if err := t.UnmarshalBinary(p); err != nil {
		d.fail()
	}
	return t
}

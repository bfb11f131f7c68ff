package db

import (
	"reflect"
	"testing"
	"time"

	"github.com/alexedwards/scs/v2"
)

func TestSessionCodecRoundTrip(t *testing.T) {
	deadline := time.Date(2026, 12, 2, 10, 4, 5, 123456789, time.FixedZone("X", 3600))
	values := map[string]interface{}{
		"sid":    int64(1) << 40,
		"neg":    int64(-7),
		"notice": "Your password was changed. ✓",
		"empty":  "",
		"n":      42,
		"ok":     true,
		"no":     false,
		"f":      3.25,
		"at":     time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC),
		"raw":    []byte{0, 1, 0x80},
	}
	var c SessionCodec
	b, err := c.Encode(deadline, values)
	if err != nil {
		t.Fatal(err)
	}
	if b[0] != codecMarker {
		t.Fatalf("encoded with gob, want the binary form")
	}
	gotDeadline, got, err := c.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if !gotDeadline.Equal(deadline) {
		t.Errorf("deadline = %v, want %v", gotDeadline, deadline)
	}
	if !reflect.DeepEqual(got, values) {
		t.Errorf("values = %#v, want %#v", got, values)
	}
}

func TestSessionCodecEmpty(t *testing.T) {
	var c SessionCodec
	b, err := c.Encode(time.Time{}, map[string]interface{}{})
	if err != nil {
		t.Fatal(err)
	}
	d, v, err := c.Decode(b)
	if err != nil || !d.IsZero() || len(v) != 0 {
		t.Errorf("Decode = %v, %v, %v", d, v, err)
	}
}

// Rows written by scs's default codec (gob) still load.
func TestSessionCodecReadsGob(t *testing.T) {
	deadline := time.Now().Add(time.Hour).Round(0)
	b, err := scs.GobCodec{}.Encode(deadline, map[string]interface{}{"sid": int64(9), "notice": "hi"})
	if err != nil {
		t.Fatal(err)
	}
	d, v, err := SessionCodec{}.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if !d.Equal(deadline) || v["sid"] != int64(9) || v["notice"] != "hi" {
		t.Errorf("Decode = %v, %#v", d, v)
	}
}

// A value type the binary form does not know is stored with gob, whole.
func TestSessionCodecFallsBackToGob(t *testing.T) {
	values := map[string]interface{}{"sid": int64(3), "list": []string{"a", "b"}}
	b, err := SessionCodec{}.Encode(time.Now(), values)
	if err != nil {
		t.Fatal(err)
	}
	if b[0] == codecMarker {
		t.Fatal("an unknown type was written in the binary form")
	}
	_, v, err := SessionCodec{}.Decode(b)
	if err != nil || !reflect.DeepEqual(v, values) {
		t.Errorf("Decode = %#v, %v", v, err)
	}
}

// Damaged data is an error, never a panic or a half-filled session.
func TestSessionCodecRejectsDamage(t *testing.T) {
	b, err := SessionCodec{}.Encode(time.Now(), map[string]interface{}{"sid": int64(5), "notice": "hello"})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < len(b); i++ {
		if _, _, err := (SessionCodec{}).Decode(b[:i]); err == nil {
			t.Errorf("truncated to %d bytes: no error", i)
		}
	}
	if _, _, err := (SessionCodec{}).Decode(append(append([]byte{}, b...), 0)); err == nil {
		t.Error("trailing byte: no error")
	}
	bad := append([]byte{}, b...)
	bad[1] = 99
	if _, _, err := (SessionCodec{}).Decode(bad); err == nil {
		t.Error("unknown version: no error")
	}
}

func BenchmarkSessionDecode(b *testing.B) {
	values := map[string]interface{}{"sid": int64(12345)}
	deadline := time.Now().Add(720 * time.Hour)
	for _, c := range []struct {
		name  string
		codec scs.Codec
	}{{"gob", scs.GobCodec{}}, {"binary", SessionCodec{}}} {
		data, err := c.codec.Encode(deadline, values)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := c.codec.Decode(data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

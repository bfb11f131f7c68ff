package handlers_test

import (
	"encoding/json"
	"time"

	"gatehouse/password"
)

func newHasher(p password.Params) *password.Hasher { return password.NewHasher(p, 1) }

func timeNow() time.Time { return time.Now() }

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }

package redis_test

import (
	"context"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"gatehouse/internal/redistest"
	"gatehouse/redis"
)

// start runs a fresh redis-server for the test and returns it, a Client
// over it, and a plain go-redis client for looking past the stores.
func start(t *testing.T) (*redistest.Server, *redis.Client, *goredis.Client) {
	t.Helper()
	srv := redistest.Start(t, redistest.Options{})
	c, err := redis.Open(context.Background(), srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return srv, c, rawClient(t, srv.URL)
}

// rawClient is a go-redis client on url, for what no store method shows.
func rawClient(t *testing.T, url string) *goredis.Client {
	t.Helper()
	opt, err := goredis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	raw := goredis.NewClient(opt)
	t.Cleanup(func() { raw.Close() })
	return raw
}

// dump returns every key in the database with its contents: a string's
// value, a sorted set's members.
func dump(t *testing.T, raw *goredis.Client) map[string][]string {
	t.Helper()
	ctx := context.Background()
	out := map[string][]string{}
	iter := raw.Scan(ctx, 0, "*", 1000).Iterator()
	for iter.Next(ctx) {
		k := iter.Val()
		typ, err := raw.Type(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		switch typ {
		case "string":
			v, err := raw.Get(ctx, k).Result()
			if err != nil && err != goredis.Nil {
				t.Fatal(err)
			}
			out[k] = []string{v}
		case "zset":
			v, err := raw.ZRange(ctx, k, 0, -1).Result()
			if err != nil {
				t.Fatal(err)
			}
			out[k] = v
		case "none": // expired between SCAN and TYPE
		default:
			t.Fatalf("key %q has type %s, which no store writes", k, typ)
		}
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

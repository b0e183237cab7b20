package relay

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ferryhq/ferry/relay/rendezvous"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/redis/go-redis/v9"
)

// redisStore keeps rendezvous entries in Redis so that several relay
// processes share them. Each nameplate is one hash at redisPrefix+nameplate
// with fields p (sender peer ID, base58), r (its relay's addresses,
// space-separated), c ("1" once claimed), k (the claimer's peer ID) and e (end of
// waiting or of the claimed hold, Unix milliseconds); the key's own TTL
// drops it one ttl after that. Each operation is one Lua script, so it is
// atomic across relays. Time comes from the calling relay's clock.
type redisStore struct {
	c *redis.Client
}

const redisPrefix = "ferry:rv:"

// Scripts return {status} or {status, value}.
var (
	registerScript = redis.NewScript(`
local e = redis.call('HMGET', KEYS[1], 'p', 'e')
local now, ttl = tonumber(ARGV[2]), tonumber(ARGV[3])
if e[1] and e[1] ~= ARGV[1] and tonumber(e[2]) > now then
  return {5}
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'p', ARGV[1], 'c', '0', 'e', now + ttl, 'r', ARGV[4])
redis.call('PEXPIRE', KEYS[1], 2 * ttl)
return {0}
`)
	claimScript = redis.NewScript(`
local e = redis.call('HMGET', KEYS[1], 'p', 'c', 'e', 'r', 'k')
local now, ttl = tonumber(ARGV[1]), tonumber(ARGV[2])
if not e[1] then return {2} end
if tonumber(e[3]) <= now then return {3} end
if e[2] == '1' and e[5] ~= ARGV[3] then return {4} end
redis.call('HSET', KEYS[1], 'c', '1', 'e', now + ttl, 'k', ARGV[3])
redis.call('PEXPIRE', KEYS[1], 2 * ttl)
return {0, e[1], e[4] or ''}
`)
	unregisterScript = redis.NewScript(`
local p = redis.call('HGET', KEYS[1], 'p')
if not p or p ~= ARGV[1] then return {2} end
redis.call('DEL', KEYS[1])
return {0}
`)
)

func newRedisStore(ctx context.Context, url string) (*redisStore, error) {
	opt, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("redis: parse URL: %w", err)
	}
	if opt.DialerRetries == 0 {
		opt.DialerRetries = 2 // fail a request fast when Redis is down
	}
	c := redis.NewClient(opt)
	if err := c.Ping(ctx).Err(); err != nil {
		c.Close()
		return nil, fmt.Errorf("redis: ping %s: %w", opt.Addr, err)
	}
	return &redisStore{c: c}, nil
}

func (s *redisStore) run(ctx context.Context, script *redis.Script, np string, args ...any) (rendezvous.Status, []string, error) {
	v, err := script.Run(ctx, s.c, []string{redisPrefix + np}, args...).Slice()
	if err != nil {
		return 0, nil, fmt.Errorf("redis: %w", err)
	}
	if len(v) == 0 {
		return 0, nil, errors.New("redis: empty script result")
	}
	st, ok := v[0].(int64)
	if !ok || st < 0 || st > int64(rendezvous.StatusUnavailable) {
		return 0, nil, fmt.Errorf("redis: bad script status %v", v[0])
	}
	var vals []string
	for _, x := range v[1:] {
		s, _ := x.(string)
		vals = append(vals, s)
	}
	return rendezvous.Status(st), vals, nil
}

func (s *redisStore) Register(ctx context.Context, np string, p peer.ID, relay string, now time.Time, ttl time.Duration) (rendezvous.Status, error) {
	st, _, err := s.run(ctx, registerScript, np, p.String(), now.UnixMilli(), ttl.Milliseconds(), relay)
	return st, err
}

func (s *redisStore) Claim(ctx context.Context, np string, claimer peer.ID, now time.Time, ttl time.Duration) (peer.ID, string, rendezvous.Status, error) {
	st, vals, err := s.run(ctx, claimScript, np, now.UnixMilli(), ttl.Milliseconds(), claimer.String())
	if err != nil || st != rendezvous.StatusOK {
		return "", "", st, err
	}
	if len(vals) != 2 {
		return "", "", 0, fmt.Errorf("redis: claim returned %d values, want 2", len(vals))
	}
	p, err := peer.Decode(vals[0])
	if err != nil {
		return "", "", 0, fmt.Errorf("redis: stored peer ID for %q: %w", np, err)
	}
	return p, vals[1], st, nil
}

func (s *redisStore) Unregister(ctx context.Context, np string, p peer.ID, now time.Time) (rendezvous.Status, error) {
	st, _, err := s.run(ctx, unregisterScript, np, p.String())
	return st, err
}

func (s *redisStore) Ping(ctx context.Context) error { return s.c.Ping(ctx).Err() }
func (s *redisStore) Close() error                   { return s.c.Close() }

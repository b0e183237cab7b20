package relay

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/ferryhq/ferry/relay/rendezvous"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/redis/go-redis/v9"
)

// redisStore keeps rendezvous entries, holdings and rate limits in Redis so
// that several relay processes share them (the layout is in doc.go). Each
// operation is one Lua script, so it is atomic across relays. The scripts
// read entries named by the holdings sets, keys they cannot declare: the
// relays need one Redis server (with replicas if need be), not a Redis
// Cluster. Time comes from the calling relay's clock.
type redisStore struct {
	c   *redis.Client
	lim storeLimits
}

// Key prefixes; they match the literals in luaLib.
const (
	redisPrefix     = "ferry:rv:"    // + nameplate: the entry (a hash)
	redisRegistered = "ferry:rvh:r:" // + owner: nameplates it registered (a set)
	redisClaimed    = "ferry:rvh:c:" // + owner: nameplates it claimed (a set)
	redisRate       = "ferry:rl:"    // + owner: its token bucket (GCRA)
)

// luaLib is prepended to every script. Entry fields: p sender, i its
// address, r relay addresses, e end of the hold (ms), a:<peer> allowed,
// k:<peer> = the claimer's address.
const luaLib = `
local P, PR, PC = 'ferry:rv:', 'ferry:rvh:r:', 'ferry:rvh:c:'
-- keep makes key live at least ms more.
local function keep(key, ms)
  if redis.call('PTTL', key) < ms then redis.call('PEXPIRE', key, ms) end
end
-- registered counts the held entries in set whose field f is v, and drops
-- the members that are no longer so.
local function registered(set, f, v, now)
  local n = 0
  for _, np in ipairs(redis.call('SMEMBERS', set)) do
    local x = redis.call('HMGET', P .. np, f, 'e')
    if x[1] ~= v then redis.call('SREM', set, np)
    elseif tonumber(x[2]) > now then n = n + 1 end
  end
  return n
end
-- claimed counts the claims on held entries in set made by peer p (or, if
-- p is false, from address ip), and drops the members without one.
local function claimed(set, p, ip, now)
  local n = 0
  for _, np in ipairs(redis.call('SMEMBERS', set)) do
    local m, e = 0, nil
    if p then
      local x = redis.call('HMGET', P .. np, 'k:' .. p, 'e')
      if x[1] then m, e = 1, x[2] end
    else
      local h = redis.call('HGETALL', P .. np)
      for j = 1, #h, 2 do
        if h[j] == 'e' then e = h[j + 1]
        elseif string.sub(h[j], 1, 2) == 'k:' and h[j + 1] == ip then m = m + 1 end
      end
    end
    if m == 0 then redis.call('SREM', set, np)
    elseif tonumber(e) > now then n = n + m end
  end
  return n
end
`

var (
	// KEYS: entry, registered p:<peer>, registered ip:<ip>.
	// ARGV: nameplate, peer, ip, now, ttl, relay, peer cap, ip cap, allow...
	registerScript = redis.NewScript(luaLib + `
local now, ttl = tonumber(ARGV[4]), tonumber(ARGV[5])
local cur = redis.call('HMGET', KEYS[1], 'p', 'e')
local own = false
if cur[1] and tonumber(cur[2]) > now then
  if cur[1] ~= ARGV[2] then return {5} end
  own = true
end
if own then
  for _, f in ipairs(redis.call('HKEYS', KEYS[1])) do
    if string.sub(f, 1, 2) == 'a:' then redis.call('HDEL', KEYS[1], f) end
  end
else
  if registered(KEYS[2], 'p', ARGV[2], now) >= tonumber(ARGV[7]) then return {9} end
  if registered(KEYS[3], 'i', ARGV[3], now) >= tonumber(ARGV[8]) then return {9} end
  redis.call('DEL', KEYS[1])
end
redis.call('HSET', KEYS[1], 'p', ARGV[2], 'i', ARGV[3], 'e', now + ttl, 'r', ARGV[6])
for j = 9, #ARGV do redis.call('HSET', KEYS[1], 'a:' .. ARGV[j], '1') end
redis.call('PEXPIRE', KEYS[1], 2 * ttl)
for j = 2, 3 do
  redis.call('SADD', KEYS[j], ARGV[1])
  keep(KEYS[j], 2 * ttl)
end
return {0}
`)
	// KEYS: entry, claimed p:<peer>, claimed ip:<ip>.
	// ARGV: nameplate, peer, ip, now, ttl, claims, claims per ip, peer cap, ip cap.
	claimScript = redis.NewScript(luaLib + `
local now, ttl = tonumber(ARGV[4]), tonumber(ARGV[5])
local h = redis.call('HGETALL', KEYS[1])
local f, n, same = {}, 0, 0
for j = 1, #h, 2 do
  f[h[j]] = h[j + 1]
  if string.sub(h[j], 1, 2) == 'k:' then
    n = n + 1
    if h[j + 1] == ARGV[3] then same = same + 1 end
  end
end
if not f['p'] then return {2} end
if tonumber(f['e']) <= now then return {3} end
local me = 'k:' .. ARGV[2]
if f[me] then
  if f[me] ~= ARGV[3] then
    redis.call('HSET', KEYS[1], me, ARGV[3])
    redis.call('SADD', KEYS[3], ARGV[1])
    keep(KEYS[3], redis.call('PTTL', KEYS[1]))
  end
  return {0, f['p'], f['r'] or ''}
end
if n >= tonumber(ARGV[6]) or same >= tonumber(ARGV[7]) then return {4} end
if claimed(KEYS[2], ARGV[2], false, now) >= tonumber(ARGV[8]) then return {9} end
if claimed(KEYS[3], false, ARGV[3], now) >= tonumber(ARGV[9]) then return {9} end
redis.call('HSET', KEYS[1], me, ARGV[3], 'e', now + ttl)
redis.call('PEXPIRE', KEYS[1], 2 * ttl)
for j = 2, 3 do
  redis.call('SADD', KEYS[j], ARGV[1])
  keep(KEYS[j], 2 * ttl)
end
-- The sender's holdings must outlive its entry: the circuit rule reads them.
keep(PR .. 'p:' .. f['p'], 2 * ttl)
keep(PR .. 'ip:' .. (f['i'] or ''), 2 * ttl)
return {0, f['p'], f['r'] or ''}
`)
	// KEYS: entry. ARGV: peer.
	unregisterScript = redis.NewScript(`
local p = redis.call('HGET', KEYS[1], 'p')
if not p or p ~= ARGV[1] then return {2} end
redis.call('DEL', KEYS[1])
return {0}
`)
	// KEYS: registered p:<dest>. ARGV: dest, src. Returns {1} if allowed.
	allowCircuitScript = redis.NewScript(luaLib + `
local restricted = false
for _, np in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local x = redis.call('HMGET', P .. np, 'p', 'k:' .. ARGV[2], 'a:' .. ARGV[2])
  if x[1] == ARGV[1] then
    if x[2] or x[3] then return {1} end
    restricted = true
  end
end
if restricted then return {0} end
return {1}
`)
	// KEYS: bucket of the address, bucket of the peer.
	// ARGV: now (ms), then per bucket: interval (ms), burst.
	// Returns {0} if allowed, else {1 (address) or 2 (peer), ms to wait}.
	rateScript = redis.NewScript(`
local now = tonumber(ARGV[1])
local function take(key, t, burst)
  local tat = tonumber(redis.call('GET', key)) or now
  if tat < now then tat = now end
  local new = tat + t
  local wait = new - now - burst * t
  if wait > 0 then return wait end
  redis.call('SET', key, string.format('%.3f', new), 'PX', math.ceil(new - now) + 1)
  return 0
end
local w = take(KEYS[1], tonumber(ARGV[2]), tonumber(ARGV[3]))
if w > 0 then return {1, math.ceil(w)} end
w = take(KEYS[2], tonumber(ARGV[4]), tonumber(ARGV[5]))
if w > 0 then return {2, math.ceil(w)} end
return {0}
`)
)

func newRedisStore(ctx context.Context, url string, lim storeLimits) (*redisStore, error) {
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
	return &redisStore{c: c, lim: lim}, nil
}

func (s *redisStore) run(ctx context.Context, script *redis.Script, keys []string, args ...any) (int64, []any, error) {
	v, err := script.Run(ctx, s.c, keys, args...).Slice()
	if err != nil {
		return 0, nil, fmt.Errorf("redis: %w", err)
	}
	if len(v) == 0 {
		return 0, nil, errors.New("redis: empty script result")
	}
	st, ok := v[0].(int64)
	if !ok {
		return 0, nil, fmt.Errorf("redis: bad script result %v", v[0])
	}
	return st, v[1:], nil
}

func (s *redisStore) status(ctx context.Context, script *redis.Script, keys []string, args ...any) (rendezvous.Status, []string, error) {
	st, rest, err := s.run(ctx, script, keys, args...)
	if err != nil {
		return 0, nil, err
	}
	if st < 0 || st > int64(rendezvous.StatusLimit) {
		return 0, nil, fmt.Errorf("redis: bad script status %d", st)
	}
	var vals []string
	for _, x := range rest {
		s, _ := x.(string)
		vals = append(vals, s)
	}
	return rendezvous.Status(st), vals, nil
}

func (s *redisStore) Register(ctx context.Context, r registration, now time.Time) (rendezvous.Status, error) {
	args := []any{r.nameplate, r.peer.String(), r.ip, now.UnixMilli(), s.lim.ttl.Milliseconds(), r.relay,
		s.lim.peerNameplates, s.lim.ipNameplates}
	for _, p := range r.allow {
		args = append(args, p.String())
	}
	keys := []string{redisPrefix + r.nameplate, redisRegistered + redisPeer(r.peer), redisRegistered + ipOwner(r.ip)}
	st, _, err := s.status(ctx, registerScript, keys, args...)
	return st, err
}

func (s *redisStore) Claim(ctx context.Context, c claim, now time.Time) (peer.ID, string, rendezvous.Status, error) {
	keys := []string{redisPrefix + c.nameplate, redisClaimed + redisPeer(c.peer), redisClaimed + ipOwner(c.ip)}
	st, vals, err := s.status(ctx, claimScript, keys, c.nameplate, c.peer.String(), c.ip,
		now.UnixMilli(), s.lim.ttl.Milliseconds(), s.lim.claims, s.lim.claimsPerIP, s.lim.peerClaims, s.lim.ipClaims)
	if err != nil || st != rendezvous.StatusOK {
		return "", "", st, err
	}
	if len(vals) != 2 {
		return "", "", 0, fmt.Errorf("redis: claim returned %d values, want 2", len(vals))
	}
	p, err := peer.Decode(vals[0])
	if err != nil {
		return "", "", 0, fmt.Errorf("redis: stored peer ID for %q: %w", c.nameplate, err)
	}
	return p, vals[1], st, nil
}

func (s *redisStore) Unregister(ctx context.Context, np string, p peer.ID, now time.Time) (rendezvous.Status, error) {
	st, _, err := s.status(ctx, unregisterScript, []string{redisPrefix + np}, p.String())
	return st, err
}

func (s *redisStore) AllowCircuit(ctx context.Context, src, dest peer.ID, now time.Time) (bool, error) {
	ok, _, err := s.run(ctx, allowCircuitScript, []string{redisRegistered + redisPeer(dest)}, dest.String(), src.String())
	return ok == 1, err
}

// redisLimits are rate limits kept in Redis, shared by every relay on it.
type redisLimits struct {
	s            *redisStore
	byIP, byPeer rateSpec
}

var _ rateLimits = redisLimits{}

func (l redisLimits) allow(ctx context.Context, ip string, p peer.ID, now time.Time) (string, time.Duration, error) {
	st, rest, err := l.s.run(ctx, rateScript, []string{redisRate + ipOwner(ip), redisRate + redisPeer(p)},
		now.UnixMilli(), l.byIP.intervalMillis(), l.byIP.burst, l.byPeer.intervalMillis(), l.byPeer.burst)
	if err != nil || st == 0 {
		return "", 0, err
	}
	var wait int64
	if len(rest) == 1 {
		wait, _ = rest[0].(int64)
	}
	d := time.Duration(wait) * time.Millisecond
	switch st {
	case 1:
		return fromAddress, d, nil
	case 2:
		return fromDevice, d, nil
	}
	return "", 0, fmt.Errorf("redis: bad rate-limit result %d", st)
}

func (s *redisStore) Ping(ctx context.Context) error { return s.c.Ping(ctx).Err() }
func (s *redisStore) Close() error                   { return s.c.Close() }

// redisPeer is the owner key of p in Redis: the Lua scripts build it from
// the base58 peer IDs they store.
func redisPeer(p peer.ID) string { return "p:" + p.String() }

// intervalMillis is the time one token takes to refill, in milliseconds,
// as the rate script reads it.
func (r rateSpec) intervalMillis() string {
	return strconv.FormatFloat(1000/r.perSecond, 'f', 3, 64)
}

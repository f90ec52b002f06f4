"""The event queue's Lua scripts: each one atomic step on one tenant's keys (one hash slot, so each runs
unchanged on one server, Sentinel or a cluster). Keys a script derives from a prefix (`<prefix><ticket>`)
share the tenant's hash tag with the KEYS it declares.

Batched on purpose: one intake call queues any number of events (a webhook, a burst of timers), one claim
leases up to a batch of tickets with everything a worker reads to decide on them, and one finish records a
whole batch of decisions. Round trips, not Redis's own work, are what a worker waits for.
"""

from __future__ import annotations

from escalator.plugin.timers import ARM_LUA, CANCEL_LUA

# KEYS: ready, drainers, metrics, hand-over list ; ARGV: 1 now, 2 dedupe ttl, 3 max drainers, 4 token,
# 5 token lease until, 6 hand-over ('1': push a new token on the hand-over list and publish the tenant on the
# wake channel, for workers that serve the ready sets themselves; '0': the caller enqueues an RQ job),
# 7 wake channel, 8 tenant, 9 dedupe key prefix, 10 inbox key prefix, 11 metrics field counting accepted
# events ('' none), 12 field counting repeats ('' none), 13 (field, n) increments n, then those pairs, then
# (delivery id, ticket id, event json) triples.
# Returns {queued flags (1/0 per event)..., token state}: 0 nothing queued, 1 queued, 2 queued and a new drain
# token was handed out.
INTAKE = """
local now, queued, flags = ARGV[1], 0, {}
local at = 13 + 2 * tonumber(ARGV[13])
for i = at + 1, #ARGV, 3 do
  if redis.call('SET', ARGV[9] .. ARGV[i], '1', 'NX', 'EX', ARGV[2]) then
    redis.call('RPUSH', ARGV[10] .. ARGV[i + 1], ARGV[i + 2])
    redis.call('ZADD', KEYS[1], 'NX', now, ARGV[i + 1])
    queued = queued + 1
    flags[#flags + 1] = 1
  else
    flags[#flags + 1] = 0
  end
end
if ARGV[11] ~= '' and queued > 0 then redis.call('HINCRBY', KEYS[3], ARGV[11], queued) end
if ARGV[12] ~= '' and #flags > queued then redis.call('HINCRBY', KEYS[3], ARGV[12], #flags - queued) end
for i = 14, at, 2 do redis.call('HINCRBY', KEYS[3], ARGV[i], ARGV[i + 1]) end
local state = 0
if queued > 0 then
  state = 1
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
  if redis.call('ZCARD', KEYS[2]) < tonumber(ARGV[3]) then
    redis.call('ZADD', KEYS[2], ARGV[5], ARGV[4])
    state = 2
    if ARGV[6] == '1' then
      redis.call('RPUSH', KEYS[4], ARGV[4])
      redis.call('PUBLISH', ARGV[7], ARGV[8])
    end
  end
end
flags[#flags + 1] = state
return flags
"""

# KEYS: drainers, hand-over list ; ARGV: now, max, token, lease until, hand-over ('1'/'0'), wake channel, tenant
ACQUIRE_DRAINER = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[4], ARGV[3])
if ARGV[5] == '1' then
  redis.call('RPUSH', KEYS[2], ARGV[3])
  redis.call('PUBLISH', ARGV[6], ARGV[7])
end
return 1
"""

# KEYS: ready, processing, drainers, owners ; ARGV: 1 now, 2 lease until, 3 drain token ('' none), 4 token lease
# until, 5-8 the key prefixes of inbox, state, outbox and comment ledger (+ ticket id), 9 batch size, 10 owner.
# One round trip: renew the drain slot, lease the first due tickets no one holds, and read everything a worker
# needs to decide on each: {ticket, inbox, state, saved plan, ledger (flat hash)} per ticket.
CLAIM = """
if ARGV[3] ~= '' then redis.call('ZADD', KEYS[3], 'XX', ARGV[4], ARGV[3]) end
local limit = tonumber(ARGV[9])
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, limit + 64)
local found = {}
for _, ticket in ipairs(due) do
  if not redis.call('ZSCORE', KEYS[2], ticket) then
    redis.call('ZREM', KEYS[1], ticket)
    redis.call('ZADD', KEYS[2], ARGV[2], ticket)
    redis.call('HSET', KEYS[4], ticket, ARGV[10])
    found[#found + 1] = {ticket, redis.call('LRANGE', ARGV[5] .. ticket, 0, -1),
                         redis.call('GET', ARGV[6] .. ticket) or '', redis.call('GET', ARGV[7] .. ticket) or '',
                         redis.call('HGETALL', ARGV[8] .. ticket)}
    if #found >= limit then break end
  end
end
return found
"""

# KEYS: 1 processing, 2 ready, 3 dead, 4 attempts, 5-7 the tenant's timers (pending, inflight, inflight_due),
#       8 owners
# ARGV: 1 now, 2 timer wake channel, 3 journal length, 4 ledger ttl, 5-9 the key prefixes of inbox, state,
#       outbox, journal and ledger, 10 tickets n, 11 dead letters n, 12 operations n, 13 timer (due, key) pairs
#       n, 14 timers to cancel n, 15 owner (this queue); then per ticket (ticket, consumed, state json ('' keeps
#       it), journal entry ('' none), sent comments n, their ledger keys); then the dead letters, the operations
#       (code, key, a, b: see plugin.finishing.Op), the (due, key) pairs and the timer keys to cancel.
# Everything finished tickets change, in one step: nothing is half-recorded after a crash. A ticket whose inbox
# received more events meanwhile is ready again at once.
FINISH = (
    ARM_LUA
    + CANCEL_LUA
    + """
local now, at, requeue, lost = ARGV[1], 15, {}, 0
-- Redis keeps the writes a script made before an error: check first that every key a ticket's part writes
-- has the type it needs, so a key someone overwrote fails the whole finish before anything is written (and
-- the caller's one-by-one retry finds the culprit without applying anyone's part twice).
local expected = {{ARGV[5], 'list'}, {ARGV[6], 'string'}, {ARGV[7], 'string'}, {ARGV[8], 'list'}, {ARGV[9], 'hash'}}
local check = 15
for _ = 1, tonumber(ARGV[10]) do
  local ticket = ARGV[check + 1]
  for _, kind in ipairs(expected) do
    local found = redis.call('TYPE', kind[1] .. ticket)['ok']
    if found ~= 'none' and found ~= kind[2] then
      return redis.error_reply('WRONGTYPE ' .. kind[1] .. ticket .. ' holds a ' .. found .. ', not a ' .. kind[2])
    end
  end
  check = check + 5 + tonumber(ARGV[check + 5])
end
for _ = 1, tonumber(ARGV[10]) do
  local ticket, consumed, state, journal = ARGV[at + 1], tonumber(ARGV[at + 2]), ARGV[at + 3], ARGV[at + 4]
  local sent = tonumber(ARGV[at + 5])
  local inbox = ARGV[5] .. ticket
  local owner = redis.call('HGET', KEYS[8], ticket)
  if owner and owner ~= ARGV[15] then
    -- Our lease ran out and another worker holds the ticket now: its pass decides these events again;
    -- trimming them or dropping its lease would lose work. Only the comments we sent are recorded (below).
    lost = lost + 1
  else
    redis.call('HDEL', KEYS[8], ticket)
    if consumed > 0 then redis.call('LTRIM', inbox, consumed, -1) end
    if state ~= '' then redis.call('SET', ARGV[6] .. ticket, state) end
    redis.call('DEL', ARGV[7] .. ticket)
    redis.call('ZREM', KEYS[1], ticket)
    redis.call('HDEL', KEYS[4], ticket)
    if journal ~= '' then
      redis.call('LPUSH', ARGV[8] .. ticket, journal)
      redis.call('LTRIM', ARGV[8] .. ticket, 0, tonumber(ARGV[3]) - 1)
    end
    requeue[#requeue + 1] = ticket
  end
  if sent > 0 then  -- whoever holds the ticket: what went out must not go out again
    for i = 1, sent do redis.call('HSET', ARGV[9] .. ticket, ARGV[at + 5 + i], 'sent') end
    redis.call('EXPIRE', ARGV[9] .. ticket, ARGV[4])
  end
  at = at + 5 + sent
end
for i = 1, tonumber(ARGV[11]) do redis.call('RPUSH', KEYS[3], ARGV[at + i]) end
at = at + tonumber(ARGV[11])
-- Counters, KPI aggregates, history facts and timers come after every ticket's part: one that fails (a
-- key of the wrong type) is skipped and counted, never undoing or repeating what the tickets' parts did.
local skipped = 0
for i = 1, tonumber(ARGV[12]) do
  local code, key, a, b = ARGV[at + 4 * i - 3], ARGV[at + 4 * i - 2], ARGV[at + 4 * i - 1], ARGV[at + 4 * i]
  local reply
  if code == 'H' then reply = redis.pcall('HINCRBY', key, a, b)
  elseif code == 'L' then reply = redis.pcall('RPUSH', key, a)
  elseif code == 'S' then reply = redis.pcall('SADD', key, a)
  elseif code == 'Z' then reply = redis.pcall('ZADD', key, a, b)
  elseif code == 'T' then reply = redis.pcall('ZREMRANGEBYSCORE', key, '-inf', a)
  elseif code == 'X' then reply = redis.pcall('EXPIRE', key, a)
  end
  if type(reply) == 'table' and reply['err'] then skipped = skipped + 1 end
end
at = at + 4 * tonumber(ARGV[12])
local items = {}
for i = 1, 2 * tonumber(ARGV[13]) do items[i] = ARGV[at + i] end
at = at + 2 * tonumber(ARGV[13])
for i = 1, tonumber(ARGV[14]) do
  if not pcall(cancel_timer, KEYS[5], KEYS[6], KEYS[7], ARGV[at + i]) then skipped = skipped + 1 end
end
if not pcall(arm_timers, KEYS[5], ARGV[2], items) then skipped = skipped + 1 end
for _, ticket in ipairs(requeue) do
  if redis.call('LLEN', ARGV[5] .. ticket) > 0 then redis.call('ZADD', KEYS[2], 'NX', now, ticket) end
end
return {#requeue, skipped, lost}
"""
)

# KEYS: processing, ready, owners ; ARGV: not_before, owner, then ticket ids -- hand tickets back, to be taken
# from not_before; a ticket another worker holds now (our lease expired) is left to it
DEFER = """
local moved = 0
for i = 3, #ARGV do
  local owner = redis.call('HGET', KEYS[3], ARGV[i])
  if not owner or owner == ARGV[2] then
    redis.call('HDEL', KEYS[3], ARGV[i])
    redis.call('ZREM', KEYS[1], ARGV[i])
    redis.call('ZADD', KEYS[2], ARGV[1], ARGV[i])
    moved = moved + 1
  end
end
return moved
"""

# KEYS: dead, ready ; ARGV: now, inbox key prefix, then (dead-letter entry, ticket id, event json) triples.
# An entry another replay already took (LREM finds nothing) is skipped, so a replay never queues twice.
REPLAY = """
local moved = 0
for i = 3, #ARGV, 3 do
  if redis.call('LREM', KEYS[1], 1, ARGV[i]) == 1 then
    redis.call('RPUSH', ARGV[2] .. ARGV[i + 1], ARGV[i + 2])
    redis.call('ZADD', KEYS[2], ARGV[1], ARGV[i + 1])
    moved = moved + 1
  end
end
return moved
"""

# KEYS: processing, ready, owners ; ARGV: now -- leases of crashed workers go back to ready
RECLAIM = """
local stale = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, 1000)
for _, ticket in ipairs(stale) do
  redis.call('HDEL', KEYS[3], ticket)
  redis.call('ZREM', KEYS[1], ticket)
  redis.call('ZADD', KEYS[2], 'NX', ARGV[1], ticket)
end
return #stale
"""

# KEYS: drainers, ready, processing ; ARGV: token, now -- give a drain token back; 1 when a due ticket nobody
# holds remains (the drain should carry on), 0 when every due ticket is held by another drain, which takes it
# again after its finish: carrying on then would only spin on empty claims.
RELEASE_DRAINER = """
redis.call('ZREM', KEYS[1], ARGV[1])
local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[2], 'LIMIT', 0, 512)
for _, ticket in ipairs(due) do
  if not redis.call('ZSCORE', KEYS[3], ticket) then return 1 end
end
return 0
"""

# KEYS: drainers ; ARGV: now, max, token, lease until -- a drain starting under `token`: renewed if its slot is
# still there; taken again if it expired while the token waited (a busy queue) and a slot is free; else 0: the
# drains running already carry the work, and one more would exceed max_drainers.
HOLD_DRAINER = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if not redis.call('ZSCORE', KEYS[1], ARGV[3]) and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  return 0
end
redis.call('ZADD', KEYS[1], ARGV[4], ARGV[3])
return 1
"""

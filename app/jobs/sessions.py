"""A training session in Redis: one segment of one run, trained slice by slice.

The web process opens a session when a run's segment gets a worker (``RedisRunner.start``)
and closes it when the segment ends. Its keys:

- ``mgl:session:{sid}`` (hash) ``state``, ``slice`` (the number of the slice queued or
  running), ``run``, ``opts`` (the worker options), ``ckpt`` (the newest checkpoint, JSON) and
  ``loop`` (the training loop's own state at that checkpoint: running, segment, elapsed, pace),
  ``holder`` (``pid@host`` of the worker that took the latest slice) and ``token`` (that
  slice's), ``sent`` (entries written) and ``step`` (the trainer's step at the last write)
- ``mgl:session:{sid}:cmd`` (list) the web's commands (JSON), oldest first, kept for the
  session's life; ``applied`` in the hash counts those a checkpoint has seen
- ``mgl:session:{sid}:lease`` the token of the worker running a slice, expiring unless renewed
  at every step: a worker that dies stops renewing it
- ``mgl:run:{run}:out`` (stream, trimmed with MAXLEN) every message of every session of the
  run, in order (``app.jobs.wire``)

``state``: ``parked`` (no slice: waiting for a command), ``queued`` (slice ``slice`` is in
Dramatiq's queue), ``running`` (a worker holds the lease), ``closed``. Handing the session from
one to the next is a Lua script, so two workers never train the same session at once and a
command that arrives as a slice ends is never left unread.
"""

PREFIX = "mgl"
CLOSED_TTL = 3600  # seconds a closed session's keys stay (a late worker reads "closed")
OPEN_TTL = 3600  # an open session's, renewed by the web process every few seconds
QUEUE = "microgpt-train"


def session_key(sid: str) -> str:
    return f"{PREFIX}:session:{sid}"


def commands_key(sid: str) -> str:
    return f"{PREFIX}:session:{sid}:cmd"


def lease_key(sid: str) -> str:
    return f"{PREFIX}:session:{sid}:lease"


def stream_key(run: int) -> str:
    return f"{PREFIX}:run:{run}:out"


# KEYS: session, commands, stream. ARGV: the command (JSON), "1" if it may be answered here
# (a pause or stop). Returns {slice, index}: the command is number ``index`` on the list, and
# ``slice`` (if not 0) must be queued: the session was parked. A pause or stop of a session
# whose slice waits in the queue needs no worker: the session is parked there instead (the
# queued slice will find it not queued and do nothing) and {-1, the stream's last id} comes
# back: the web process has every message of the session once it has read up to that id.
COMMAND = """
local state = redis.call('HGET', KEYS[1], 'state')
if ARGV[2] == '1' and state == 'queued' then
  redis.call('HSET', KEYS[1], 'state', 'parked')
  local last = redis.call('XREVRANGE', KEYS[3], '+', '-', 'COUNT', 1)
  if #last == 0 then return {-1, '0-0'} end
  return {-1, last[1][1]}
end
local index = redis.call('RPUSH', KEYS[2], ARGV[1]) - 1
if state == 'parked' then
  redis.call('HSET', KEYS[1], 'state', 'queued')
  return {redis.call('HINCRBY', KEYS[1], 'slice', 1), index}
end
return {0, index}
"""

# KEYS: session, lease. ARGV: slice n, token, lease ms, holder ("pid@host", kept in the
# session for the curious and for tests that kill it). 1: the slice is this worker's; 2: it
# is, and it was redelivered (its first worker died holding it: the messages after the last
# checkpoint may come twice); 0: not to be run (closed, a stale copy, or held by a live worker).
# A redelivered slice n may meet n + 1 queued (its worker died right after queueing it): it
# runs in n + 1's place, and n + 1 finds the session taken.
CLAIM = """
local state = redis.call('HGET', KEYS[1], 'state')
local slice = tonumber(redis.call('HGET', KEYS[1], 'slice') or '-1')
local n = tonumber(ARGV[1])
if slice ~= n and slice ~= n + 1 then return 0 end
local claimed = 0
if state == 'queued' then
  claimed = 1
elseif state == 'running' and redis.call('EXISTS', KEYS[2]) == 0 then
  claimed = 2
else
  return 0
end
redis.call('HSET', KEYS[1], 'state', 'running', 'holder', ARGV[4], 'token', ARGV[2])
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
return claimed
"""

# The lease is this worker's (KEYS[1]: lease, KEYS[2]: session, ARGV[1]: token) if it holds
# it, or if it expired (a stall longer than the lease) and nobody has claimed the session
# since: the session's token is still this worker's. It is then taken back.
HOLDS = """
local function holds(lease, session, token, ms)
  local current = redis.call('GET', lease)
  if current ~= token and (current or redis.call('HGET', session, 'token') ~= token) then
    return false
  end
  redis.call('SET', lease, token, 'PX', ms)
  return true
end
"""

# KEYS: lease, commands, session. ARGV: token, lease ms, index of the first command not yet
# applied. The lease renewed and the commands from that index on, or nil if the session is no
# longer this worker's. Commands stay on the list: the session's ``applied`` (kept with every
# checkpoint) says where a redelivered slice, restarting from that checkpoint, reads on.
RENEW = (
    HOLDS
    + """
if not holds(KEYS[1], KEYS[3], ARGV[1], ARGV[2]) then return false end
return redis.call('LRANGE', KEYS[2], ARGV[3], tonumber(ARGV[3]) + 63)
"""
)

# KEYS: lease, session, stream. ARGV: token, lease ms, MAXLEN, the number of hash fields to
# keep, those fields and values, then each entry as its number of fields and its fields and
# values. Written only by the session's holder (1), else nothing (0): a worker that stalled
# past its lease while another took over writes no stale entry.
FLUSH = (
    HOLDS
    + """
if not holds(KEYS[1], KEYS[2], ARGV[1], ARGV[2]) then return 0 end
local i = 5
local kept = tonumber(ARGV[4])
if kept > 0 then
  redis.call('HSET', KEYS[2], unpack(ARGV, i, i + 2 * kept - 1))
  i = i + 2 * kept
end
while i <= #ARGV do
  local n = tonumber(ARGV[i])
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[3], '*', unpack(ARGV, i + 1, i + 2 * n))
  i = i + 1 + 2 * n
end
return 1
"""
)

# KEYS: session, lease, commands. ARGV: token, "more" (steps left) or "idle", index of the
# first command not yet applied, lease ms. The next slice's number if one must be queued
# (steps left, or a command came meanwhile), 0 if the session is parked or closed, -1 if the
# session is another worker's now.
YIELD = (
    HOLDS
    + """
if not holds(KEYS[2], KEYS[1], ARGV[1], ARGV[4]) then return -1 end
redis.call('DEL', KEYS[2])
if redis.call('HGET', KEYS[1], 'state') ~= 'running' then return 0 end
if ARGV[2] == 'more' or redis.call('LLEN', KEYS[3]) > tonumber(ARGV[3]) then
  redis.call('HSET', KEYS[1], 'state', 'queued')
  return redis.call('HINCRBY', KEYS[1], 'slice', 1)
end
redis.call('HSET', KEYS[1], 'state', 'parked')
return 0
"""
)

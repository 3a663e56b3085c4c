"""Where a log lives in Redis, and the Lua scripts that write it atomically."""

from __future__ import annotations

# Scores of the ``logs:{KIND}`` index at or above this are microseconds; below it, the
# milliseconds earlier versions wrote (10**14 ms is the year 5138, 10**14 us is 1973).
MICROSECOND_SCORES = 10**14


def index_score(created: float) -> int:
    """The ``logs:{KIND}`` score of a log created at ``created`` (Unix seconds): microseconds,
    so two logs opened in the same millisecond keep their order."""
    return round(created * 1_000_000)


def index_time(score: float) -> float:
    """The creation time (Unix seconds) of an index score, in either unit ever written."""
    return score / 1_000_000 if score >= MICROSECOND_SCORES else score / 1000


# KEYS: meta, stream, idem. ARGV: idem key ('' = none), expect_seq ('' = none), head,
# tail, channel. XADD goes first: scripts are not rolled back, and it is the only write
# that can fail (OOM), so a failure leaves nothing behind. string.format('%d') keeps
# the seq an integer ("7", not "7.0") in the event text and the entry ID.
APPEND_LUA = """
if ARGV[1] ~= '' then
  local old = redis.call('HGET', KEYS[3], ARGV[1])
  if old then
    local entry = redis.call('XRANGE', KEYS[2], old .. '-0', old .. '-0')[1]
    return {0, tonumber(old), entry and entry[2][2] or false}
  end
end
local current = tonumber(redis.call('HGET', KEYS[1], 'seq') or '0')
if ARGV[2] ~= '' and tonumber(ARGV[2]) ~= current then return {-1, current} end
local seq = string.format('%d', current + 1)
local text = ARGV[3] .. seq .. ARGV[4]
redis.call('XADD', KEYS[2], seq .. '-0', 'e', text)
redis.call('HSET', KEYS[1], 'seq', seq)
if ARGV[1] ~= '' then redis.call('HSET', KEYS[3], ARGV[1], seq) end
redis.call('PUBLISH', ARGV[5], seq .. ' ' .. text)
return {1, current + 1}
"""
# KEYS: meta, stream, idem. ARGV: keep. XTRIM MINID drops entries below (head - keep + 1)-0,
# exactly (no ``~``); idempotency keys of dropped seqs go too. The head (meta) is untouched.
TRIM_LUA = """
local first = tonumber(redis.call('HGET', KEYS[1], 'seq') or '0') - tonumber(ARGV[1]) + 1
if first <= 1 then return 0 end
local removed = redis.call('XTRIM', KEYS[2], 'MINID', string.format('%d', first) .. '-0')
local idem = redis.call('HGETALL', KEYS[3])
for i = 1, #idem, 2 do
  if tonumber(idem[i + 1]) < first then redis.call('HDEL', KEYS[3], idem[i]) end
end
return removed
"""
PUT_DOC_LUA = """
local v = tonumber(redis.call('HGET', KEYS[1], 'v') or '0')
if v ~= tonumber(ARGV[1]) then return -1 end
redis.call('HSET', KEYS[1], 'v', string.format('%d', v + 1), 'body', ARGV[2])
return v + 1
"""
CLAIM_LUA = """
local owner = redis.call('GET', KEYS[1])
if owner and owner ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""
RELEASE_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 0
"""


def log_keys(log: str) -> list[str]:
    """meta, stream and idem keys of a log: one hash tag, so one Cluster slot."""
    return [f"{{{log}}}:meta", f"{{{log}}}:stream", f"{{{log}}}:idem"]


def channel(log: str) -> str:
    return f"ev:{{{log}}}"

import StampedeRedis

/// The Lua scripts of a stock move between two buckets of a sale (`StockMove`): each takes units
/// from, or gives units to, one bucket's counters, once per move, and only at the epoch
/// PostgreSQL recorded for that bucket when the move was planned or revoked. Each touches one
/// bucket's keys only, so it runs unchanged on Redis Cluster.
public enum BucketScripts {
    /// Takes up to `amount` units from a bucket for move `move_id`, once: a repeated call answers
    /// what the first took.
    ///
    /// KEYS: sale, moves (of the source bucket). ARGV: move_id, amount, run_id, gen. Returns the
    /// units taken (0…amount: what the bucket held, at most `amount`), or -1 when the counters are
    /// not at that epoch (rebuilt since, or being rebuilt: the move is abandoned, nothing taken).
    public static let revoke = RedisScript("""
    local epoch = redis.call('HMGET', KEYS[1], 'run', 'gen')
    if epoch[1] ~= ARGV[3] or epoch[2] ~= ARGV[4] then return -1 end
    local field = 'out:' .. ARGV[1]
    local taken = redis.call('HGET', KEYS[2], field)
    if taken then return tonumber(taken) end
    local avail = tonumber(redis.call('HGET', KEYS[1], 'avail') or '0')
    local units = math.max(0, math.min(avail, tonumber(ARGV[2])))
    if units > 0 then redis.call('HINCRBY', KEYS[1], 'avail', -units) end
    redis.call('HSET', KEYS[2], field, units)
    return units
    """)

    /// Gives `amount` units to a bucket for move `move_id`, once.
    ///
    /// KEYS: sale, moves (of the target bucket). ARGV: move_id, amount, run_id, gen. Returns 1 when
    /// given now, 0 when given before, -1 when the counters are not at that epoch: rebuilt since
    /// (the rebuild counted the units) or not yet rebuilt (the caller retries later).
    public static let grant = RedisScript("""
    local epoch = redis.call('HMGET', KEYS[1], 'run', 'gen')
    if epoch[1] ~= ARGV[3] or epoch[2] ~= ARGV[4] then return -1 end
    if redis.call('HSETNX', KEYS[2], 'in:' .. ARGV[1], ARGV[2]) == 0 then return 0 end
    redis.call('HINCRBY', KEYS[1], 'avail', ARGV[2])
    return 1
    """)
}

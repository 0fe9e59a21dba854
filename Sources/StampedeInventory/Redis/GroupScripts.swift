import StampedeRedis

/// The Lua scripts of exclusive groups' claims (`GroupKeys`). A group's claims live in their own
/// slot, apart from its sales' keys, so no script sees both: a purchase of a group's sale claims
/// first (`claim`), the sale decides second, and a claim whose purchase took nothing is released
/// (`release`). The reconciler releases what a crash left between the two. The claims carry an
/// epoch (`run`, `gen`) like a sale's counters; PostgreSQL's `exclusive_groups.redis_epoch` is the
/// one commits are fenced on.
public enum GroupScripts {
    /// Claims units for a batch of purchases, in order.
    ///
    /// KEYS: group, claims, entries, unconfirmed. ARGV: run_id, now_ms, then per purchase `order_id,
    /// user_id, quantity, sale_id`. Returns `{gen, r1, r2, …}`: per purchase 1 granted (the user's
    /// claimed units grew by the quantity, and the claim is recorded under the order id and listed
    /// as unconfirmed for the reconciler) or 0 refused (the
    /// user's units plus the quantity would pass the limit). `{-1}` when the claims are missing or
    /// not rebuilt for this Redis run: nothing changes and the group must be rebuilt first.
    public static let claim = RedisScript("""
    local g = redis.call('HMGET', KEYS[1], 'limit', 'run', 'gen')
    if not g[1] or g[2] ~= ARGV[1] then return {-1} end
    local limit = tonumber(g[1])
    local out = {tonumber(g[3])}
    local held, writes, entries, listed = {}, {}, {}, {}
    -- Every buyer's claimed units in one HMGET (chunked), the writes in one HSET each: a claim
    -- costs a few Lua steps, not several Redis commands.
    local users = {}
    for i = 3, #ARGV, 4 do users[#users + 1] = ARGV[i + 1] end
    for first = 1, #users, 4000 do
      local last = math.min(first + 3999, #users)
      local found = redis.call('HMGET', KEYS[2], unpack(users, first, last))
      for k = first, last do
        if held[users[k]] == nil then held[users[k]] = tonumber(found[k - first + 1] or '0') end
      end
    end
    for i = 3, #ARGV, 4 do
      local user, qty = ARGV[i + 1], tonumber(ARGV[i + 2])
      if held[user] + qty > limit then
        out[#out + 1] = 0
      else
        held[user] = held[user] + qty
        writes[user] = held[user]
        entries[#entries + 1] = ARGV[i]
        entries[#entries + 1] = user .. '|' .. ARGV[i + 2] .. '|' .. ARGV[i + 3] .. '|' .. ARGV[2]
        listed[#listed + 1] = ARGV[2]
        listed[#listed + 1] = ARGV[i]
        out[#out + 1] = 1
      end
    end
    local pairsToWrite = {}
    for user, units in pairs(writes) do
      pairsToWrite[#pairsToWrite + 1] = user
      pairsToWrite[#pairsToWrite + 1] = units
    end
    for first = 1, #pairsToWrite, 4000 do
      redis.call('HSET', KEYS[2], unpack(pairsToWrite, first, math.min(first + 3999, #pairsToWrite)))
    end
    for first = 1, #entries, 4000 do
      redis.call('HSET', KEYS[3], unpack(entries, first, math.min(first + 3999, #entries)))
      redis.call('ZADD', KEYS[4], unpack(listed, first, math.min(first + 3999, #listed)))
    end
    return out
    """)

    /// Releases the claims of orders, each at most once (a claim is deleted with its release).
    ///
    /// KEYS: group, claims, entries, unconfirmed. ARGV: run_id, gen (the epoch the claims were made
    /// or counted at), then order ids. Returns how many claims were released now, or -1 when the claims are
    /// not at that epoch (rebuilt since: the caller retries at the current one, or the rebuild
    /// already left them out).
    public static let release = RedisScript("""
    local g = redis.call('HMGET', KEYS[1], 'run', 'gen')
    if g[1] ~= ARGV[1] or g[2] ~= ARGV[2] then return -1 end
    local released = 0
    for i = 3, #ARGV do
      local entry = redis.call('HGET', KEYS[3], ARGV[i])
      if entry then
        local user, qty = string.match(entry, '^([^|]*)|(%d+)|')
        local left = redis.call('HINCRBY', KEYS[2], user, -tonumber(qty))
        if left <= 0 then redis.call('HDEL', KEYS[2], user) end
        redis.call('HDEL', KEYS[3], ARGV[i])
        redis.call('ZREM', KEYS[4], ARGV[i])
        released = released + 1
      end
    end
    return released
    """)

    /// Rebuilds a group's claims from PostgreSQL's held orders at a new epoch.
    ///
    /// KEYS: group, claims, entries, unconfirmed. ARGV: run_id, gen, limit, then per held order
    /// `order_id, user_id, quantity, sale_id, created_ms` (committed: none is unconfirmed). Returns 1 rebuilt, 0 when the group is already at
    /// this epoch or a newer generation of it (another rebuild won).
    public static let restore = RedisScript("""
    local g = redis.call('HMGET', KEYS[1], 'run', 'gen')
    if g[1] == ARGV[1] and tonumber(g[2] or '-1') >= tonumber(ARGV[2]) then return 0 end
    redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4])
    redis.call('HSET', KEYS[1], 'limit', ARGV[3], 'run', ARGV[1], 'gen', ARGV[2])
    local held = {}
    for i = 4, #ARGV, 5 do
      held[ARGV[i + 1]] = (held[ARGV[i + 1]] or 0) + tonumber(ARGV[i + 2])
      redis.call('HSET', KEYS[3], ARGV[i], ARGV[i + 1] .. '|' .. ARGV[i + 2] .. '|' .. ARGV[i + 3] .. '|' .. ARGV[i + 4])
    end
    for user, units in pairs(held) do redis.call('HSET', KEYS[2], user, units) end
    return 1
    """)

    /// A consistent view of a group's epoch and some of its claims. KEYS: group, entries,
    /// unconfirmed. ARGV: cutoff_ms ('' for none), max, then order ids. Returns `{run, gen, limit,
    /// {order_id, record, …}, {order_id, record, …}}` (`run` false when missing): the claims of the
    /// given orders that exist, then up to `max` unconfirmed claims made at or before the cutoff.
    /// It never reads every claim of the group.
    public static let inspect = RedisScript("""
    local g = redis.call('HMGET', KEYS[1], 'run', 'gen', 'limit')
    local function records(ids)
      local out = {}
      for first = 1, #ids, 4000 do
        local last = math.min(first + 3999, #ids)
        local found = redis.call('HMGET', KEYS[2], unpack(ids, first, last))
        for k = first, last do
          local record = found[k - first + 1]
          if record then out[#out + 1] = ids[k]; out[#out + 1] = record end
        end
      end
      return out
    end
    local asked = {}
    for i = 3, #ARGV do asked[#asked + 1] = ARGV[i] end
    local old = {}
    if ARGV[1] ~= '' then old = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2])) end
    return {g[1], tonumber(g[2] or '0'), tonumber(g[3] or '0'), records(asked), records(old)}
    """)
}

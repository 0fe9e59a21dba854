import StampedeRedis

/// The Lua scripts that make every stock decision atomically inside Redis.
///
/// Each script touches the keys of one sale only (`SaleKeys`), so it runs unchanged on Redis
/// Cluster. Times are integer milliseconds passed in by Stampede.
public enum InventoryScripts {
    /// Result codes of `purchase`, one per purchase in the batch.
    public enum PurchaseCode: Int64, Sendable {
        case reserved = 0, duplicate = 1, soldOut = 2, limitExceeded = 3, notStarted = 4, ended = 5,
             unknownSale = 6, invalidQuantity = 7, stale = 8, groupLimitExceeded = 9
    }

    /// A field every outbox (`SaleKeys.pending`) holds beside its entries, never an order id (`~`
    /// is not in an id's alphabet). Its value is longer than Redis's `hash-max-listpack-value` (64
    /// bytes by default), so the outbox is a hashtable from its first write on and, never emptied
    /// by the commits' `HDEL`s, stays one. Without it the outbox of a busy sale empties and
    /// refills batch after batch as a listpack, which Redis rescans on every insert and delete
    /// (O(n) each, up to 128 entries): about a fifth of the purchase script's Redis time at peak.
    /// Both are Lua string literals in the scripts: no quote or backslash in them.
    public static let outboxAnchorField = "~anchor"
    public static let outboxAnchorValue =
        "keeps this outbox a hashtable; order ids never start with ~ (see InventoryScripts.outboxAnchorField)"

    /// Decides a batch of purchases of one sale, in order.
    ///
    /// KEYS: sale, users, idem, pending. ARGV: now_ms, run_id (of the Redis the caller's connection
    /// reached), the exclusive group the caller decided the batch's claims for ('' for none), the
    /// purchases to refuse unless they repeat an idempotency key (`position:code,…`
    /// with 1-based positions, '' for none: purchases of an exclusive group whose claim was refused
    /// or met stale claims), then for each purchase `order_id, user_id, quantity, idempotency_key
    /// ('' for none)`.
    /// Returns `{ {sku, price, limit, avail, ttl, ends_ms, gen}, r1, r2, … }`: the sale's fields,
    /// the units left after the batch and the counters' generation, then per purchase its integer
    /// code, or for `duplicate` `{1, first_order_id, pending_record}` (the record is '' once the
    /// first order left the outbox). A reservation decrements `avail`, adds to the user's units,
    /// records the idempotency key and writes the outbox entry `user|qty|created|expires|idem` —
    /// all or nothing. When the sale's counters were not rebuilt for this Redis run (`run`
    /// differs: Redis restarted, failed over, or the sale was invalidated) every purchase is
    /// `stale` and nothing changes: the counters may be behind PostgreSQL and must be rebuilt first.
    /// So it is when the sale's exclusive group is not the caller's (the caller's copy of the sale
    /// predates a redefinition: its purchases did not claim in the right group).
    ///
    /// Redis time is what one hot sale is limited by, so the script reads every buyer's units and
    /// every idempotency key with one `HMGET` each and writes with one `HSET` per key: a purchase
    /// costs a few Lua steps, not several Redis commands.
    public static let purchase = RedisScript("""
    local sale = redis.call('HMGET', KEYS[1], 'avail', 'limit', 'starts', 'ends', 'ttl', 'sku', 'price', 'run', 'gen', 'group')
    local results = {}
    local code = nil
    if not sale[1] then code = 6 elseif sale[8] ~= ARGV[2] or (sale[10] or '') ~= ARGV[3] then code = 8 end
    if code then
      results[1] = {'', 0, 0, 0, 0, 0, 0}
      for i = 5, #ARGV, 4 do results[#results + 1] = code end
      return results
    end
    local avail, limit = tonumber(sale[1]), tonumber(sale[2])
    local starts, ends, ttl = tonumber(sale[3]), tonumber(sale[4]), tonumber(sale[5])
    local nowText = ARGV[1]
    local now = tonumber(nowText)
    local expiresText = string.format('%d', now + ttl * 1000)
    local function hmget(key, fields)
      local out = {}
      for first = 1, #fields, 4000 do
        local part = redis.call('HMGET', key, unpack(fields, first, math.min(first + 3999, #fields)))
        for k = 1, #part do out[#out + 1] = part[k] end
      end
      return out
    end
    local function hset(key, pairs)
      for first = 1, #pairs, 4000 do
        redis.call('HSET', key, unpack(pairs, first, math.min(first + 3999, #pairs)))
      end
    end
    local refuse = nil
    if ARGV[4] ~= '' then
      refuse = {}
      for position, refusal in string.gmatch(ARGV[4], '(%d+):(%d+)') do refuse[tonumber(position)] = tonumber(refusal) end
    end
    local users, idems = {}, {}
    for i = 5, #ARGV, 4 do
      users[#users + 1] = ARGV[i + 1]
      if ARGV[i + 3] ~= '' then idems[#idems + 1] = ARGV[i + 1] .. '|' .. ARGV[i + 3] end
    end
    local held = {}
    local heldList = hmget(KEYS[2], users)
    for k = 1, #users do
      if held[users[k]] == nil then held[users[k]] = tonumber(heldList[k] or '0') end
    end
    local prior = {}
    if #idems > 0 then
      local priorList = hmget(KEYS[3], idems)
      for k = 1, #idems do prior[idems[k]] = priorList[k] end
    end
    local window = 0
    if now < starts then window = 4 elseif now >= ends then window = 5 end
    local userWrites, idemWrites, records = {}, {}, {}
    local pendingWrites = {'\(outboxAnchorField)', '\(outboxAnchorValue)'}
    local taken = 0
    results[1] = 0
    for i = 5, #ARGV, 4 do
      local oid, user, qty, idem = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2]), ARGV[i + 3]
      local r = nil
      local field = nil
      if idem ~= '' then
        field = user .. '|' .. idem
        local first = prior[field]
        if first then
          r = {1, first, records[first] or redis.call('HGET', KEYS[4], first) or ''}
        end
      end
      if not r then
        if refuse and refuse[(i - 5) / 4 + 1] then r = refuse[(i - 5) / 4 + 1]
        elseif window ~= 0 then r = window
        elseif qty > limit then r = 7
        elseif held[user] + qty > limit then r = 3
        elseif qty > avail then r = 2
        else
          avail = avail - qty
          taken = taken + 1
          held[user] = held[user] + qty
          userWrites[user] = held[user]
          local record = user .. '|' .. ARGV[i + 2] .. '|' .. nowText .. '|' .. expiresText .. '|' .. idem
          records[oid] = record
          pendingWrites[#pendingWrites + 1] = oid
          pendingWrites[#pendingWrites + 1] = record
          if field then
            prior[field] = oid
            idemWrites[#idemWrites + 1] = field
            idemWrites[#idemWrites + 1] = oid
          end
          r = 0
        end
      end
      results[#results + 1] = r
    end
    if taken > 0 then
      redis.call('HSET', KEYS[1], 'avail', avail)
      redis.call('HINCRBY', KEYS[1], 'orders', taken)
      local heldWrites = {}
      for user, units in pairs(userWrites) do
        heldWrites[#heldWrites + 1] = user
        heldWrites[#heldWrites + 1] = units
      end
      hset(KEYS[2], heldWrites)
      if #idemWrites > 0 then hset(KEYS[3], idemWrites) end
      hset(KEYS[4], pendingWrites)
    end
    results[1] = {sale[6], tonumber(sale[7]), limit, avail, ttl, ends, tonumber(sale[9] or '0')}
    return results
    """)

    /// Returns one order's stock to its sale, at most once per order id.
    ///
    /// KEYS: sale, users, released. ARGV: order_id, user_id, quantity, run_id, gen (the epoch
    /// PostgreSQL held when the order left `reserved`). Returns 1 when the stock was returned now,
    /// 0 when it had been returned before, -1 when the sale's counters are not at that epoch (gone,
    /// or rebuilt since): nothing changes and the caller retries later, after the rebuild.
    public static let release = RedisScript("""
    local epoch = redis.call('HMGET', KEYS[1], 'run', 'gen')
    if epoch[1] ~= ARGV[4] or epoch[2] ~= ARGV[5] then return -1 end
    if redis.call('SADD', KEYS[3], ARGV[1]) == 0 then return 0 end
    local qty = tonumber(ARGV[3])
    redis.call('HINCRBY', KEYS[1], 'avail', qty)
    local left = redis.call('HINCRBY', KEYS[2], ARGV[2], -qty)
    if left <= 0 then redis.call('HDEL', KEYS[2], ARGV[2]) end
    return 1
    """)

    /// Creates or replaces a sale's definition; a sale that ever took a reservation is not replaced.
    ///
    /// KEYS: sale, users, idem, pending, released, moves. ARGV: sku, price, stock, limit, starts_ms,
    /// ends_ms, ttl_seconds, token ('1' when purchases need a purchase token, else '0'), run_id,
    /// gen, group (the exclusive group, '' for none), avail (the units this hash starts with: the
    /// stock, or a bucket's share of it), buckets (the child ids of buckets 1…K−1, comma-separated;
    /// '' for none). Returns 1 created, 0 replaced, -1 refused (the sale has orders).
    public static let define = RedisScript("""
    local existed = redis.call('EXISTS', KEYS[1])
    if existed == 1 then
      local orders = tonumber(redis.call('HGET', KEYS[1], 'orders') or '0')
      if orders > 0 or redis.call('HLEN', KEYS[4]) > redis.call('HEXISTS', KEYS[4], '\(outboxAnchorField)') then return -1 end
    end
    redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6])
    redis.call('HSET', KEYS[1], 'sku', ARGV[1], 'price', ARGV[2], 'total', ARGV[3], 'avail', ARGV[12],
      'restocked', 0, 'orders', 0, 'limit', ARGV[4], 'starts', ARGV[5], 'ends', ARGV[6], 'ttl', ARGV[7],
      'token', ARGV[8], 'run', ARGV[9], 'gen', ARGV[10], 'group', ARGV[11], 'buckets', ARGV[13])
    if existed == 1 then return 0 end
    return 1
    """)

    /// Adds units to a sale. KEYS: sale. ARGV: quantity, run_id, gen (the epoch PostgreSQL held
    /// when it recorded the restock). Returns the new `avail`, or -1 when the sale's counters are
    /// not at that epoch (the caller rebuilds the sale, which counts the restock).
    public static let restock = RedisScript("""
    local epoch = redis.call('HMGET', KEYS[1], 'run', 'gen')
    if epoch[1] ~= ARGV[2] or epoch[2] ~= ARGV[3] then return -1 end
    redis.call('HINCRBY', KEYS[1], 'restocked', ARGV[1])
    return redis.call('HINCRBY', KEYS[1], 'avail', ARGV[1])
    """)

    /// Rebuilds a sale's counters from PostgreSQL's committed orders at a new epoch.
    ///
    /// KEYS: sale, users, idem, pending, released, moves. ARGV: run_id, gen, sku, price, total, limit,
    /// starts, ends, ttl, restocked, avail, orders, token, group, buckets (as `define`'s), n_users,
    /// then n_users pairs `user, units`,
    /// n_keys, then n_keys pairs `user|idempotency_key, order_id`, then the ids of every cancelled
    /// or expired order (their stock is already counted as returned). Replaces everything — the
    /// outbox too: reservations decided under the old counters can no longer commit (PostgreSQL
    /// moved to the new epoch) and none of them was confirmed. Returns 1 rebuilt, 0 when the sale
    /// is already at this epoch or a newer generation of it (another rebuild won).
    public static let restore = RedisScript("""
    local epoch = redis.call('HMGET', KEYS[1], 'run', 'gen')
    if epoch[1] == ARGV[1] and tonumber(epoch[2] or '-1') >= tonumber(ARGV[2]) then return 0 end
    redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6])
    redis.call('HSET', KEYS[1], 'sku', ARGV[3], 'price', ARGV[4], 'total', ARGV[5], 'limit', ARGV[6],
      'starts', ARGV[7], 'ends', ARGV[8], 'ttl', ARGV[9], 'restocked', ARGV[10], 'avail', ARGV[11],
      'orders', ARGV[12], 'token', ARGV[13], 'run', ARGV[1], 'gen', ARGV[2], 'group', ARGV[14], 'buckets', ARGV[15])
    local i = 17
    for _ = 1, tonumber(ARGV[16]) do redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1]); i = i + 2 end
    local keys = tonumber(ARGV[i]); i = i + 1
    for _ = 1, keys do redis.call('HSET', KEYS[3], ARGV[i], ARGV[i + 1]); i = i + 2 end
    while i <= #ARGV do redis.call('SADD', KEYS[5], ARGV[i]); i = i + 1 end
    return 1
    """)

    /// Marks a sale's counters as needing a rebuild, if they are still at the given epoch.
    /// KEYS: sale. ARGV: run_id, gen. Returns 1 when invalidated.
    public static let invalidate = RedisScript("""
    local epoch = redis.call('HMGET', KEYS[1], 'run', 'gen')
    if epoch[1] ~= ARGV[1] or epoch[2] ~= ARGV[2] then return 0 end
    redis.call('HDEL', KEYS[1], 'run')
    return 1
    """)

    /// A consistent view of a sale for the reconciler. KEYS: sale, pending. Returns
    /// `{run, gen, orders, avail, {order_id, record, …}}` (`run` false when the sale is missing or
    /// invalidated).
    public static let inspect = RedisScript("""
    local sale = redis.call('HMGET', KEYS[1], 'run', 'gen', 'orders', 'avail')
    return {sale[1], tonumber(sale[2] or '0'), tonumber(sale[3] or '0'), tonumber(sale[4] or '0'),
      redis.call('HGETALL', KEYS[2])}
    """)

    /// Every script, for loading at start.
    public static let all: [RedisScript] = [purchase, release, define, restock, restore, invalidate, inspect,
                                            BucketScripts.revoke, BucketScripts.grant]
}

import StampedeRedis

/// The Lua scripts that make every stock decision atomically inside Redis.
///
/// Each script touches the keys of one sale only (`SaleKeys`), so it runs unchanged on Redis
/// Cluster. Times are integer milliseconds passed in by Stampede.
public enum InventoryScripts {
    /// Result codes of `purchase`, one per purchase in the batch.
    public enum PurchaseCode: Int64, Sendable {
        case reserved = 0, duplicate = 1, soldOut = 2, limitExceeded = 3, notStarted = 4, ended = 5,
             unknownSale = 6, invalidQuantity = 7
    }

    /// Decides a batch of purchases of one sale, in order.
    ///
    /// KEYS: sale, users, idem, pending. ARGV: now_ms, then for each purchase
    /// `order_id, user_id, quantity, idempotency_key ('' for none)`.
    /// Returns `{ {sku, price, limit}, r1, r2, … }`, each `r` being `{code, order_id, created_ms,
    /// expires_ms, pending_record}`: for `reserved` the new reservation; for `duplicate` the first
    /// order's id and, while it is still pending, its outbox record so the caller can commit it.
    /// A reservation decrements `avail`, adds to the user's units, records the idempotency key and
    /// writes the outbox entry `user|qty|created|expires|idem` — all or nothing.
    public static let purchase = RedisScript("""
    local sale = redis.call('HMGET', KEYS[1], 'avail', 'limit', 'starts', 'ends', 'ttl', 'sku', 'price')
    local results = {}
    if not sale[1] then
      results[1] = {'', 0, 0}
      for i = 2, #ARGV, 4 do results[#results + 1] = {6, ARGV[i], 0, 0, ''} end
      return results
    end
    local avail, limit = tonumber(sale[1]), tonumber(sale[2])
    local starts, ends, ttl = tonumber(sale[3]), tonumber(sale[4]), tonumber(sale[5])
    local now = tonumber(ARGV[1])
    results[1] = {sale[6], tonumber(sale[7]), limit}
    local taken = 0
    for i = 2, #ARGV, 4 do
      local oid, user, qty, idem = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2]), ARGV[i + 3]
      local r = nil
      if idem ~= '' then
        local prior = redis.call('HGET', KEYS[3], user .. '|' .. idem)
        if prior then
          r = {1, prior, 0, 0, redis.call('HGET', KEYS[4], prior) or ''}
        end
      end
      if not r then
        if now < starts then r = {4, oid, 0, 0, ''}
        elseif now >= ends then r = {5, oid, 0, 0, ''}
        elseif qty > limit then r = {7, oid, 0, 0, ''}
        else
          local held = tonumber(redis.call('HGET', KEYS[2], user) or '0')
          if held + qty > limit then r = {3, oid, 0, 0, ''}
          elseif qty > avail then r = {2, oid, 0, 0, ''}
          else
            avail = avail - qty
            taken = taken + 1
            redis.call('HINCRBY', KEYS[2], user, qty)
            if idem ~= '' then redis.call('HSET', KEYS[3], user .. '|' .. idem, oid) end
            local expires = now + ttl * 1000
            local record = user .. '|' .. string.format('%d', qty) .. '|' .. string.format('%d', now)
              .. '|' .. string.format('%d', expires) .. '|' .. idem
            redis.call('HSET', KEYS[4], oid, record)
            r = {0, oid, now, expires, record}
          end
        end
      end
      results[#results + 1] = r
    end
    if taken > 0 then
      redis.call('HSET', KEYS[1], 'avail', avail)
      redis.call('HINCRBY', KEYS[1], 'orders', taken)
    end
    return results
    """)

    /// Returns one order's stock to its sale, at most once per order id.
    ///
    /// KEYS: sale, users, released. ARGV: order_id, user_id, quantity. Returns 1 when the stock
    /// was returned now, 0 when it had been returned before (or the sale is gone).
    public static let release = RedisScript("""
    if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
    if redis.call('SADD', KEYS[3], ARGV[1]) == 0 then return 0 end
    local qty = tonumber(ARGV[3])
    redis.call('HINCRBY', KEYS[1], 'avail', qty)
    local left = redis.call('HINCRBY', KEYS[2], ARGV[2], -qty)
    if left <= 0 then redis.call('HDEL', KEYS[2], ARGV[2]) end
    return 1
    """)

    /// Creates or replaces a sale's definition; a sale that ever took a reservation is not replaced.
    ///
    /// KEYS: sale, users, idem, pending, released. ARGV: sku, price, stock, limit, starts_ms,
    /// ends_ms, ttl_seconds, token ('1' when purchases need a purchase token, else '0').
    /// Returns 1 created, 0 replaced, -1 refused (the sale has orders).
    public static let define = RedisScript("""
    local existed = redis.call('EXISTS', KEYS[1])
    if existed == 1 then
      local orders = tonumber(redis.call('HGET', KEYS[1], 'orders') or '0')
      if orders > 0 or redis.call('HLEN', KEYS[4]) > 0 then return -1 end
    end
    redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5])
    redis.call('HSET', KEYS[1], 'sku', ARGV[1], 'price', ARGV[2], 'total', ARGV[3], 'avail', ARGV[3],
      'restocked', 0, 'orders', 0, 'limit', ARGV[4], 'starts', ARGV[5], 'ends', ARGV[6], 'ttl', ARGV[7],
      'token', ARGV[8])
    if existed == 1 then return 0 end
    return 1
    """)

    /// Adds units to a sale. KEYS: sale. ARGV: quantity. Returns the new `avail`, or -1 if the sale
    /// does not exist in Redis.
    public static let restock = RedisScript("""
    if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
    redis.call('HINCRBY', KEYS[1], 'restocked', ARGV[1])
    return redis.call('HINCRBY', KEYS[1], 'avail', ARGV[1])
    """)

    /// Rebuilds a sale that Redis lost (restart without data) from PostgreSQL's truth, unless it
    /// exists already. KEYS: sale, users. ARGV: sku, price, total, limit, starts, ends, ttl,
    /// restocked, avail, orders, token, then pairs `user, units`. Returns 1 rebuilt, 0 already present.
    public static let restore = RedisScript("""
    if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
    redis.call('HSET', KEYS[1], 'sku', ARGV[1], 'price', ARGV[2], 'total', ARGV[3], 'limit', ARGV[4],
      'starts', ARGV[5], 'ends', ARGV[6], 'ttl', ARGV[7], 'restocked', ARGV[8], 'avail', ARGV[9],
      'orders', ARGV[10], 'token', ARGV[11])
    redis.call('DEL', KEYS[2])
    for i = 12, #ARGV, 2 do redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1]) end
    return 1
    """)

    /// Every script, for loading at start.
    public static let all: [RedisScript] = [purchase, release, define, restock, restore]
}

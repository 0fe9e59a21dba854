# shellcheck shell=bash
# What scripts/bench and scripts/bench-cluster share. Source it after scripts/lib/services.sh.

# put_sale ID STOCK LIMIT [MEMBERS]: PUTs a sale live for a day through the Stampede at $base (admin
# token STAMPEDE_ADMIN_TOKEN); MEMBERS (e.g. `"buckets":3`) are added to the body. Prints the HTTP
# status, a space and the answer's body.
put_sale() {
  local now until out
  now=$(date -u -d '-1 minute' +%Y-%m-%dT%H:%M:%SZ); until=$(date -u -d '+1 day' +%Y-%m-%dT%H:%M:%SZ)
  out=$(curl -sS -w '\n%{http_code}' -X PUT "$base/admin/sales/$1" \
    -H "Authorization: Bearer $STAMPEDE_ADMIN_TOKEN" -H 'Content-Type: application/json' \
    -d "{\"sku\":\"sku-bench\",\"price_cents\":999,\"stock\":$2,\"per_user_limit\":$3,\"starts_at\":\"$now\",\"ends_at\":\"$until\",\"reservation_ttl_seconds\":86400${4:+,$4}}")
  echo "${out##*$'\n'} ${out%$'\n'*}"
}

# define_sale ID STOCK LIMIT [MEMBERS]: put_sale, and dies unless the sale was created.
define_sale() {
  local answer
  answer="$(put_sale "$@")"
  [ "${answer%% *}" = 201 ] || die "could not define sale $1 (HTTP $answer)"
}

# config_for BINARY OUT: writes to OUT the default configuration (Config/stampede.json) with only
# the keys BINARY knows (from its `config-reference`), so an older binary of an A/B run starts
# with the same settings instead of refusing a key added since.
config_for() {
  "$1" config-reference | python3 -c '
import json, re, sys
known = set(re.findall(r"^\| `([^`]+)` \|", sys.stdin.read(), re.M))
def keep(node, prefix):
    out = {}
    for key, value in node.items():
        name = prefix + key
        if key.startswith("_"):
            out[key] = value
        elif isinstance(value, dict) and name not in known:
            out[key] = keep(value, name + ".")
        elif name in known:
            out[key] = value
    return out
json.dump(keep(json.load(open(sys.argv[1])), ""), open(sys.argv[2], "w"), indent=2)
' Config/stampede.json "$2"
}

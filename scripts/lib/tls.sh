# shellcheck shell=bash
# TLS helpers for the scripts (sourced after lib/services.sh).

# make_self_signed_cert DIR: a self-signed ECDSA P-256 certificate for localhost and 127.0.0.1
# (DIR/cert.pem, DIR/key.pem), valid 30 days, made with the openssl CLI. Kept while it is valid
# for at least another day; remade otherwise.
make_self_signed_cert() {
  local dir="$1"
  mkdir -p "$dir"
  if [ -s "$dir/cert.pem" ] && [ -s "$dir/key.pem" ] \
     && openssl x509 -in "$dir/cert.pem" -noout -checkend 86400 >/dev/null 2>&1; then
    return 0
  fi
  command -v openssl >/dev/null || die "openssl is missing (apt-get install openssl)"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$dir/key.pem" -out "$dir/cert.pem" -days 30 -subj "/CN=localhost" \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
    -addext "basicConstraints=critical,CA:TRUE" >/dev/null 2>&1 \
    || die "openssl could not create a self-signed certificate in $dir"
  chmod 600 "$dir/key.pem"
  log "made a self-signed certificate for localhost/127.0.0.1 in $dir"
}

#!/bin/sh
# tls-certs.sh DIR - the certificates the TLS tests use, made with the openssl
# CLI into DIR (which exists):
#   ca.pem            the test CA (ca.key)
#   server.pem/.key   signed by it, for localhost and 127.0.0.1 (SAN)
#   client.pem/.key   a client certificate signed by it (mTLS)
#   expired.pem/.key  like server.pem, but valid only in 2020
#   other.pem/.key    like server.pem, but for other.example only (name mismatch)
#   ca2.pem           another CA; server2.pem/.key (localhost, 127.0.0.1) and
#                     client2.pem/.key are signed by it
set -eu
d=$1
cd "$d"
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
ca() { # name subject
    key "$1.key"
    openssl req -x509 -new -key "$1.key" -out "$1.pem" -days 30 -subj "$2" \
        -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
}
csr() { # name subject
    key "$1.key"
    openssl req -new -key "$1.key" -out "$1.csr" -subj "$2"
}
sign() { # name ca extfile-line...
    n=$1 c=$2
    shift 2
    printf '%s\n' "$@" > "$n.ext"
    openssl x509 -req -in "$n.csr" -CA "$c.pem" -CAkey "$c.key" -CAcreateserial -days 30 \
        -out "$n.pem" -extfile "$n.ext" 2>/dev/null
}
srv_ext='subjectAltName=DNS:localhost,IP:127.0.0.1'
ca ca /CN=barrierd-test-ca
ca ca2 /CN=barrierd-other-ca
csr server /CN=localhost && sign server ca "$srv_ext" extendedKeyUsage=serverAuth
csr client /CN=test-client && sign client ca extendedKeyUsage=clientAuth
csr other /CN=other.example && sign other ca subjectAltName=DNS:other.example extendedKeyUsage=serverAuth
csr server2 /CN=localhost && sign server2 ca2 "$srv_ext" extendedKeyUsage=serverAuth
csr client2 /CN=test-client2 && sign client2 ca2 extendedKeyUsage=clientAuth
# Expired: `openssl ca` takes explicit dates (OpenSSL 3.0's x509 has no -not_before).
csr expired /CN=localhost
mkdir -p ca.db
: > ca.db/index.txt
echo 1000 > ca.db/serial
printf '%s\n' "$srv_ext" > expired.ext
cat > ca.cnf <<CNF
[ca]
default_ca = test
[test]
database = ca.db/index.txt
serial = ca.db/serial
new_certs_dir = ca.db
default_md = sha256
policy = any
[any]
commonName = supplied
CNF
openssl ca -batch -config ca.cnf -cert ca.pem -keyfile ca.key -in expired.csr -out expired.pem \
    -startdate 20200101000000Z -enddate 20200201000000Z -extfile expired.ext -notext 2>/dev/null

#!/usr/bin/env python3
"""egov-enc-service's symmetric scheme, written apart from digit-user's decoder, with the `cryptography`
package: the test vectors tests/import reads. Prints one JSON object:

  {"master": {"password", "salt", "initialvector"},
   "keys": [{"key_id", "secret_key", "initial_vector", "tenant_id", "active"}],   # as eg_enc_symmetric_keys holds them
   "values": [{"key_id", "plaintext", "ciphertext"}]}                           # as egov-user's columns hold them

With --seal after the password, the plaintexts are a JSON list read from standard input, sealed under one key.

The scheme (Digit-Core core-services/egov-enc-service, org.egov.enc): the master key is PBKDF2-HMAC-SHA256 of
master.password, 65536 rounds, 32 bytes, salted with the first 8 characters of master.salt; every key row's
secret_key and initial_vector are base64(AES-GCM(master key, first 12 characters of master.initialvector,
base64(raw bytes))); a value is "<key_id>|" + base64(AES-GCM(key, the row's vector, UTF-8 of the value)).
"""
import base64
import json
import os
import sys

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC


def java_bytes(text, n):
    """The first n characters of text, each cast to a byte as Java's (byte) char does."""
    return bytes(ord(c) & 0xFF for c in text[:n])


def master_key(password, salt):
    kdf = PBKDF2HMAC(algorithm=hashes.SHA256(), length=32, salt=java_bytes(salt, 8), iterations=65536)
    return kdf.derive(password.encode("utf-8"))


def wrap(master, master_iv, raw):
    inner = base64.b64encode(raw)
    return base64.b64encode(AESGCM(master).encrypt(master_iv, inner, None)).decode("ascii")


def main():
    password = sys.argv[1] if len(sys.argv) > 1 else "asd@#$@$!132123"
    # --seal: the values are a JSON list on standard input, sealed under the first (active) key only
    seal_only = "--seal" in sys.argv[2:]
    salt, initialvector = "qweasdzx", "qweasdzxqwea"
    master = master_key(password, salt)
    master_iv = java_bytes(initialvector, 12)
    keys, values = [], []
    plaintexts = ["Asha Devi", "आशा देवी", "9876543210", "asha.devi@example.org", "ABCDE1234F", "", "#12, Mall Road"]
    if seal_only:
        plaintexts = json.load(sys.stdin)
    for key_id, tenant, active in [(896077, "pb", True), (123, "pb", False)][: 1 if seal_only else 2]:
        secret, vector = os.urandom(32), os.urandom(12)
        keys.append({"key_id": key_id, "tenant_id": tenant, "active": active,
                     "secret_key": wrap(master, master_iv, secret),
                     "initial_vector": wrap(master, master_iv, vector)})
        for text in plaintexts:
            sealed = AESGCM(secret).encrypt(vector, text.encode("utf-8"), None)
            values.append({"key_id": key_id, "plaintext": text,
                           "ciphertext": f"{key_id}|{base64.b64encode(sealed).decode('ascii')}"})
    json.dump({"master": {"password": password, "salt": salt, "initialvector": initialvector},
               "keys": keys, "values": values}, sys.stdout, ensure_ascii=False)


if __name__ == "__main__":
    main()

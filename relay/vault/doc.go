// Package vault serves and speaks /ferry/vault/1: a relay keeps end-to-end
// encrypted backups of devices' chat histories that its operator cannot
// read. Register mounts the server on a relay's libp2p host; Client is the
// device's side. What the chunks and manifests hold, and how they are
// sealed, is package transfer's business (transfer/vault.go): to this
// package they are opaque blobs with opaque names.
//
// # Accounts and backups
//
// The account is the device's libp2p peer ID, authenticated by the
// connection's handshake. A backup is named by a 16-byte backup ID that the
// device derives from the backup key (HKDF, see package transfer), so it is
// unguessable and stable: every backup of one home with one key goes to the
// same backup ID, which makes later backups incremental. The device that
// first writes to a backup ID owns it: only it may upload chunks, ask which
// chunks exist, replace the manifest or key slot, list it or delete it
// (another device hears "forbidden", which tells no more than that the ID
// is in use, as a read would). Reading (a chunk, the manifest, the key
// slot's parameters, the wrapped key for a right proof) needs only the
// backup ID, so that a new device restores with the key or password alone,
// never the old device. Chunk names are keyed hashes (32 bytes), so knowing
// a backup ID does not tell which chunks to ask for. List answers with the
// asking device's own backups only.
//
// # Wire format
//
// Each request is one internal/wire frame, uvarint(len+1) || type || body,
// answered by one frame; a stream carries any number of request/answer pairs
// in turn (the relay closes one idle for a minute). IDs are 16 bytes, names
// and proofs 32 bytes, integers unsigned LEB128 varints in shortest form. Parsers are strict: a wrong length, a
// non-canonical varint, unsorted or duplicate names or trailing bytes are a
// bad request.
//
//	client → relay                                         relay → client
//	PutChunk     0x01 id || name || sealed chunk           Ack
//	HasChunks    0x02 id || 1..65536 × name                Bitmap 0x81: bit i (LSB first) = name i stored
//	GetChunk     0x03 id || name                           Data 0x82: the chunk
//	PutManifest  0x04 id || uvarint(k) || k × name         Ack; names ascending, no duplicates:
//	                  || sealed manifest                     the chunks the manifest refers to
//	GetManifest  0x05 id                                   Data 0x82: the sealed manifest
//	List         0x06 (empty)                              Backups 0x83: uvarint(n) || n × (id ||
//	                                                         uvarint(unix seconds) || uvarint(size))
//	Delete       0x07 id                                   Ack
//	PutKeySlot   0x08 id || key slot                       Ack
//	GetKeyParams 0x09 id                                   KeyParams 0x84: 0x01 || uvarint(time) ||
//	                                                         uvarint(memory KiB) || threads || salt (32)
//	GetKeySlot   0x0a id || proof                          Wrapped 0x85: the wrapped key (60 bytes)
//	any                                                    Error 0xff: code || UTF-8 message
//
// A key slot is 0x01 || uvarint(time) || uvarint(memory KiB) || threads (1
// byte) || salt (32) || verifier (32) || wrapped key (60: nonce, sealed
// 32-byte key, tag); the Argon2id parameters are bounded as in
// internal/archive. Error codes: 1 internal (retry), 2 forbidden (another
// device's backup), 3 not found, 4 bad request, 5 quota used up, 6 too
// large, 7 wrong password, 8 locked, 9 chunks missing (PutManifest names a
// chunk the vault does not hold).
//
// PutManifest checks that every named chunk is stored, replaces the
// manifest, records the backup's size (chunks + manifest + key slot) and
// time, and deletes the backup's chunks it does not name: old chunks go
// once a newer manifest no longer needs them. Delete removes the key slot
// and the manifest first (a restore stops at once), then the chunks, then
// the backup's record: a removal cut off by a crash stays listed and
// counted against its owner until a Delete (or its TTL) finishes it.
//
// # Passwords
//
// With a password, the client wraps the random backup key under a key
// derived from Argon2id(password, salt) and derives a second, separate value
// from the same Argon2id output (HKDF label "ferry vault v1 auth"); the key
// slot holds SHA-256 of it as the verifier. To restore, a client fetches the
// salt and parameters (GetKeyParams), computes the proof and sends it
// (GetKeySlot): the relay hands out the wrapped key only when SHA-256(proof)
// equals the verifier (constant-time compare). Ten wrong proofs in a row
// lock the backup for good (the count is kept with the backup, across relay
// restarts, and proofs sent at once are counted one by one; a right proof
// resets it); only its owner can unlock it, by
// putting a new key slot (its next password backup). So whoever learns a
// backup ID can lock that backup by guessing wrong ten times: a denial of
// service, never a disclosure; the ID is shown only to the user.
//
// # What a malicious operator can and cannot do
//
// It sees: account peer IDs, backup IDs, when backups are written and read,
// how many chunks they have and each chunk's size rounded up to a bucket
// (16 KiB × 2^k × 1, 1.25, 1.5 or 1.75), the manifest's size, and the
// Argon2id salt and parameters.
//
// It cannot: read any chunk or manifest (AES-256-GCM under keys derived
// from the 256-bit backup key); test a guess of content (chunk names are
// BLAKE3 keyed by a key derived from the backup key, not plain hashes);
// change, swap, truncate or drop a chunk without the restore failing before
// anything is written (each chunk is sealed with its name as associated
// data and checked against the hash the authenticated manifest lists);
// forge a manifest.
//
// It can: delete or withhold backups (restore fails, it does not go wrong);
// serve an older manifest of the same backup, which the device that made
// the backup detects (it remembers the last sequence number it wrote) but a
// new device cannot (it can only check that the manifest is authentic, so
// it may restore an older backup of the same key); and, for password
// backups, run an offline guessing attack on the password at Argon2id's cost
// per guess, since it holds the salt, the verifier and the wrapped key. The
// online limit of ten guesses protects against everyone else, not against
// the operator: WhatsApp closes that hole with HSMs, which a self-hosted
// relay does not have. A 64-digit recovery key has no such weakness; the
// CLI says so where the user chooses.
//
// # Limits
//
// Config sets a quota per account (bytes across its backups, chunks being
// uploaded included), a maximum number of backups per account, a maximum
// backup size, and a TTL: a backup not written for that long (manifest,
// key slot, chunk uploads and HasChunks count; uploads record the time at
// most once per min(TTL/8, 1 hour)) is deleted (on access, and by a sweep
// that runs now and then while requests arrive), so a backup being written
// never expires. Each account may have AccountStreams requests served at
// once (of MaxStreams for all) and makes them at AccountRate per second
// with a burst of AccountBurst; requests over either limit wait, so a
// device that asks too much is slowed, not refused. The bookkeeping (owner,
// times, size, failed proofs) lives in the store next to the backup, so it
// survives restarts; it assumes one relay process writes a given store at
// a time. A chunk put when its backup is being deleted is deleted too; one
// left by a crash in between counts against the quota of whoever next
// writes that backup ID.
package vault

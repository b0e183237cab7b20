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
// 32 bytes, proofs 64 bytes, integers unsigned LEB128 varints in shortest
// form. Parsers are strict: a wrong length, a non-canonical varint,
// unsorted or duplicate names or trailing bytes are a bad request. The
// relay checks a request's announced length against its type's bound
// before it allocates anything, and reads the whole request before it
// serves it (see admission.go).
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
//	PutKeySlot   0x08 id || key slot (version 2)           Ack
//	GetKeyParams 0x09 id                                   KeyParams 0x84: 0x02 || uvarint(time) ||
//	                                                         uvarint(memory KiB) || threads || salt (32)
//	                                                         || challenge (32)
//	GetKeySlot   0x0a id || signature (64), on the stream  Wrapped 0x85: the wrapped key (60 bytes)
//	                  that got the challenge
//	any                                                    Error 0xff: code || UTF-8 message
//
// A key slot is version (1 byte) || uvarint(time) || uvarint(memory KiB) ||
// threads (1 byte) || salt (32) || verifier (32) || wrapped key (60: nonce,
// sealed 32-byte key, tag); the Argon2id parameters are bounded as in
// internal/archive. Version 2's verifier is an Ed25519 public key; version
// 1's (written before) was SHA-256 of a fixed proof: the relay still reads
// such slots but answers ErrOldKeySlot to GetKeyParams, and takes only
// version 2 from PutKeySlot. Error codes: 1 internal (retry), 2 forbidden
// (another device's backup), 3 not found, 4 bad request, 5 quota used up, 6
// too large, 7 wrong password, 8 locked, 9 chunks missing (PutManifest names
// a chunk the vault does not hold), 10 old key slot, 11 try later (the
// message is the wait in seconds), 12 the vault is full, 13 no access (the
// device holds no reservation), 14 busy (too many requests of this device
// or address). A stream the relay does not admit gets an Error answer at
// once, which the client reads as the answer to its first request.
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
// derived from Argon2id(password, SHA-256(label || backup ID || salt)) and
// derives from the same output the seed of an Ed25519 key, whose public
// half the key slot holds (package transfer has the labels). To restore, a
// client asks for the slot's parameters, salt and a fresh 32-byte
// challenge (GetKeyParams), refuses parameters below its own defaults
// before it computes anything, and signs ProofMessage (the label, the
// backup ID, the challenge, and the relay's and its own peer IDs); on the
// same stream it sends the signature (GetKeySlot), and the relay hands out
// the wrapped key only for a valid one. A proof answers one challenge of
// one relay: seen, logged or sent to another relay, it opens nothing.
//
// Every attempt is counted in the store, in the backup's guard object,
// with compare-and-swap before its proof is checked (see lockout.go), so
// relays sharing a store count together and attempts sent at once one by
// one. A right proof takes back only its own count; wrong ones add up
// until the owner puts a new key slot (its next password backup). After
// MaxFails the backup is locked; between attempts the relay makes the
// device wait (none after the first, then 1 s, 2 s, 4 s, ...), and refuses
// an early attempt unseen. So whoever learns a backup ID can lock that
// backup by guessing wrong ten times: a denial of service, never a
// disclosure; the ID is shown only to the user.
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
// backups, run an offline guessing attack on the password at the cost of
// Argon2id with the parameters the device chose (at least Ferry's
// defaults: a restore refuses less), since it holds the salt, the public
// key and the wrapped key; the salt bound to the backup ID makes each
// guess serve one backup only. The online limit of ten guesses protects
// against everyone else, not against the operator: WhatsApp closes that
// hole with HSMs, which a self-hosted relay does not have. A 64-digit
// recovery key has no such weakness; the CLI says so where the user
// chooses. It cannot make a device compute a cheaper stretch, nor get a
// proof it could replay.
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
// device that asks too much is slowed, not refused. MaxTotal bounds what
// the vault holds in all. A device uses the vault only while Allow says so
// (the relay: while it holds a reservation, which one IP address gets a
// bounded number of), and one IP address may hold IPStreams streams,
// IPRequests of the MaxStreams slots and IPMemory bytes of requests being
// read, and create IPNewBackups backups a day (see admission.go). The
// bookkeeping (owner, times, size) lives in the store next to the backup,
// so it survives restarts; it assumes one relay process writes a given
// store at a time, except the password guard, which any number share. A chunk put when its backup is being deleted is deleted too; one
// left by a crash in between counts against the quota of whoever next
// writes that backup ID.
package vault

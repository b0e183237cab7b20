// Package vault is the server of /ferry/vault/1: a relay keeps end-to-end
// encrypted backups of devices' chat histories that its operator cannot
// read. Register mounts it on a relay's libp2p host. The protocol (wire
// format, messages, error codes) and the device's client are package
// relay/vaultproto; what the chunks and manifests hold, and how they are
// sealed, is package backup's business: to this package they are opaque
// blobs with opaque names.
//
// One concern per file: config.go (the limits), server.go (a stream's
// loop and the dispatch of requests), admission.go (who may use the vault,
// and how much of it at once), layout.go (object keys and the backup's
// record in the store), records.go (loading, creating, touching and
// expiring a backup's record), quota.go (an account's usage and the
// vault's total), objects.go (chunks, manifests, listing and deletion),
// keyslot.go and lockout.go (password backups), owner.go (owner keys:
// listing and deleting with a proof of the backup key), sweep.go
// (expiry), and locks.go.
//
// # Accounts and backups
//
// The account is the device's libp2p peer ID, authenticated by the
// connection's handshake. A backup is named by a 16-byte backup ID that the
// device derives from the backup key (HKDF, see package backup), so it is
// unguessable and stable: every backup of one home with one key goes to the
// same backup ID, which makes later backups incremental. The device that
// first writes to a backup ID owns it: only it may upload chunks, ask which
// chunks exist, replace the manifest, key slot or owner key, list it or
// delete it, unless a device proves its key (below; another device hears
// "forbidden", which tells no more than that the ID
// is in use, as a read would). Reading (a chunk, the manifest, the key
// slot's parameters, the wrapped key for a right proof) needs only the
// backup ID, so that a new device restores with the key or password alone,
// never the old device. Chunk names are keyed hashes (32 bytes), so knowing
// a backup ID does not tell which chunks to ask for. List answers with the
// asking device's own backups only. A device that proves the backup key,
// by signing a fresh challenge with the owner key whose public half the
// owner put (see owner.go), may also list that backup and delete it: the
// device a backup was restored on holds its key, not its account. The
// record keeps the owner key; a record of version 1 (before owner keys)
// is read as one without.
//
// # What the server does with each request
//
// PutManifest checks that every named chunk is stored, replaces the
// manifest, records the backup's size (chunks + manifest + key slot) and
// time, and deletes the backup's chunks it does not name: old chunks go
// once a newer manifest no longer needs them. Delete removes the key slot
// and the manifest first (a restore stops at once), then the chunks, then
// the backup's record: a removal cut off by a crash stays listed and
// counted against its owner until a Delete (or its TTL) finishes it.
//
// # Password attempts
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
// It sees: account peer IDs, backup IDs, each backup's owner key (a
// public key, of no use but to check proofs), which devices list or
// delete a backup with its key (as it sees which restore it),
// when backups are written and read,
// how many chunks they have and each chunk's size rounded up to a bucket
// (16 KiB × 2^k × 1, 1.25, 1.5 or 1.75, plus the envelope's fixed 122
// bytes), the manifest's size, and the Argon2id salt and parameters.
//
// It cannot: read any chunk or manifest (AES-256-GCM under keys derived
// from the 256-bit backup key); test a guess of content (chunk names are
// BLAKE3 keyed by a key derived from the backup key, not plain hashes);
// change, swap, truncate or drop a chunk without the restore failing before
// anything is written (each chunk is sealed under a key bound to its name
// and checked against the hash the authenticated manifest lists);
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

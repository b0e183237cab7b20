// Package vaultproto is /ferry/vault/1, the protocol between a device and
// a relay's vault: its wire format (this comment is its spec), the
// messages and their strict parsers, the error codes and the sentinels
// they map to, and Client, the device's side. The server is package
// relay/vault; this package links neither it nor a storage backend, so a
// device that only backs up and restores carries no relay code (a test
// checks its dependencies).
//
// What the chunks and manifests hold, and how they are sealed, is package
// backup's business: here they are opaque blobs with opaque names.
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
//	PutOwnerKey  0x0b id || owner key (32)                 Ack
//	OwnerChallenge 0x0c id                                 Challenge 0x86: challenge (32)
//	ListWithKey  0x0d id || signature (64), on the stream  Backups 0x83: the one backup
//	                  that got the challenge
//	DeleteWithKey 0x0e id || signature (64), likewise      Ack
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
// or address), 15 no owner key (the backup's record has none to check a
// proof of its key against). A stream the relay does not admit gets an
// Error answer at once, which the client reads as the answer to its first
// request.
//
// # Passwords
//
// With a password, the client wraps the random backup key under a key
// derived from Argon2id(password, SHA-256(label || backup ID || salt)) and
// derives from the same output the seed of an Ed25519 key, whose public
// half the key slot holds (package backup has the labels). To restore, a
// client asks for the slot's parameters, salt and a fresh 32-byte
// challenge (GetKeyParams), refuses parameters below its own defaults
// before it computes anything, and signs ProofMessage (the label, the
// backup ID, the challenge, and the relay's and its own peer IDs); on the
// same stream it sends the signature (GetKeySlot), and the relay hands out
// the wrapped key only for a valid one. A proof answers one challenge of
// one relay: seen, logged or sent to another relay, it opens nothing.
//
// # Owner keys
//
// The device that owns a backup gives the relay its owner key
// (PutOwnerKey): an Ed25519 public key that package backup derives from
// the backup key. To list or delete the backup from any device, a client
// asks for a fresh challenge (OwnerChallenge) on a new stream, signs
// OwnerProofMessage (its own label, the backup ID, the challenge, and the
// relay's and its own peer IDs) and sends the signature with ListWithKey
// or DeleteWithKey on the same stream; the relay serves it only for a
// signature its stored owner key checks. A challenge answers one proof.
// The owner key gives the relay nothing it could open or replay; a proof
// seen, logged or sent to another relay opens nothing.
//
// # Compatibility
//
// The protocol ID carries the version: a relay and a device of different
// major versions do not talk at all. Within version 1, a relay keeps
// answering every request type listed above, and a key slot of version 1
// stays readable (its size counts) but is never opened again. Owner keys
// (0x0b to 0x0e, code 15) came later within version 1: a relay before
// them refuses those requests as malformed, which the client reports as
// ErrOwnerKeysUnsupported (it matches errors.ErrUnsupported), and a
// backup stored before them has no owner key until its owner puts one.
package vaultproto

// Package archive seals a stream of frames into an encrypted, authenticated
// archive and opens it again.
//
// It is generic: the transfer engine puts its manifest in frame 0 and the
// chunks in frames 1..N-1 (what `ferry export` writes), and a vault backup
// seals each of its objects and its manifest as an archive of one frame
// (Seal and Open, in memory: the same format and the same code). Writers
// stream (one sealed frame in memory at a time); readers allocate at most
// one frame at a time (none with Reader.NextInto and a reused buffer).
//
// # Keys
//
// An archive is opened by a random 256-bit key, shown to the user as a
// recovery key of 64 hex digits in groups of four (Key.RecoveryString,
// ParseRecoveryKey), or wrapped under a password with Argon2id. Every key
// used on the wire is derived from it with HKDF-SHA256, salted with the
// archive's random salt, one label per key:
//
//	frame key    HKDF(key, salt, "ferry archive v1 frame key",  32)  AES-256-GCM key of the frames
//	header key   HKDF(key, salt, "ferry archive v1 header key", 32)  HMAC-SHA256 key of the header
//	key check    HKDF(key, salt, "ferry archive v1 key check",  16)  stored in the header
//
// Because the salt is fresh for every archive, so is the frame key, even
// when one recovery key is used for many archives; that is what makes the
// frame counter a safe nonce.
//
// # Format, version 1
//
// All integers are big-endian. The header:
//
//	offset  size  field
//	0       8     magic "FERRYARC"
//	8       1     format version, 1
//	9       1     key slot kind: 1 = recovery key, 2 = password
//	10      8     N, the number of frames (uint64)
//	18      32    salt, random per archive
//	50      k     key slot body: empty for a recovery key (k = 0); for a password (k = 73):
//	                4   Argon2id time (passes)
//	                4   Argon2id memory in KiB
//	                1   Argon2id threads
//	                16  Argon2id salt, random
//	                48  archive key sealed with AES-256-GCM under
//	                    Argon2id(password, salt, time, memory, threads, 32 bytes),
//	                    nonce 12 zero bytes, no associated data
//	50+k    16    key check
//	66+k    32    header MAC: HMAC-SHA256(header key, bytes 0 .. 66+k)
//
// so a header is 98 bytes (recovery key) or 171 bytes (password). Then N
// frames, for i = 0 .. N-1:
//
//	4     L, the sealed length: plaintext length + 16, 16 <= L <= MaxFrame + 16
//	L     AES-256-GCM(frame key, nonce, plaintext, AD)
//	        nonce = 4 zero bytes || i as uint64
//	        AD    = SHA-256(header bytes) || i as uint64 || N as uint64 || final
//	        final = 1 if i = N-1, else 0
//
// and then the end of the input: any byte after frame N-1 is corruption.
//
// The AD binds every frame to this archive's header (so a frame from another
// archive, even one made with the same key, fails), to its position (so
// reordered, duplicated or dropped frames fail) and to the total (so the
// reader knows which frame is the last, and an archive cut at a frame
// boundary is caught as truncated). The nonce and AD repeat the index
// deliberately: the AD alone would do, the nonce must not repeat anyway.
//
// # What a reader reports
//
// Readers enforce bounds before doing any work a hostile file could abuse:
// a length above MaxFrame + 16 is ErrCorrupt, Argon2id parameters above
// 16 passes, 128 MiB or 16 threads are ErrCorrupt, a frame over 64 KiB is
// allocated only once its first 64 KiB have arrived.
//
//	bad magic                                   ErrNotArchive
//	version above FormatVersion                 ErrNewerVersion
//	input ends early (header or frames)         ErrTruncated
//	key check does not match the key            ErrWrongKey
//	  ... and the archive has a password slot   ErrWrongKey and ErrNeedsPassword
//	password slot does not unwrap               ErrWrongPassword
//	a password for a recovery-key archive       ErrWrongPassword and ErrNeedsKey
//	header MAC, a frame, a length, trailing     ErrCorrupt
//
// The key check tells a wrong key from a changed header; its cost is that a
// change inside the salt or the key check itself also reads as a wrong key
// (see Reader.Unlock). A password archive cannot tell a wrong password from
// changed Argon2id parameters, salt or wrapped key. Either way nothing
// unauthenticated is ever returned.
//
// # What a newer reader promises about older archives
//
// An archive is a file a user keeps for years: every later Ferry reads
// format version 1 as this page describes it, with either key slot. A
// change to the header, the frames or the key derivation takes a new format
// version, which the Writer then writes and the Reader reads beside version
// 1 (FormatVersion is the newest; a Ferry older than a file says
// ErrNewerVersion, an upgrade hint, not ErrCorrupt). The known-answer
// archives transfer/testdata/kat/archive-v1-key.ferry and
// archive-v1-password.ferry, bytes written by the first Ferry of this
// format, must keep importing (transfer.TestKnownArchives). Seal and Open,
// the envelope of a vault object, are an archive of one frame and are held
// to the same promise by backup's known-answer vault (backup.TestVaultKATv3).
//
// # Cipher choice
//
// AES-256-GCM, not ChaCha20-Poly1305: with AES and carry-less multiply
// instructions (every amd64 of the last decade, ARMv8 phones with the crypto
// extension) Go's AES-GCM, which has assembly for amd64 and arm64, is
// 2.5 to 3.5 times faster. Sealing 4 MiB frames on the development machine
// (two shared Xeon cores with AES-NI): 5.4-6.0 GB/s against 1.6-2.4 GB/s
// (go test -bench AEAD).
package archive

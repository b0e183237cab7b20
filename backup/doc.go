// Package backup is the device side of end-to-end encrypted backups: it
// uploads a snapshot of a history to a relay's vault (/ferry/vault/1, see
// package relay/vaultproto) so that the operator can read nothing, and
// restores it, through the engine's Receiver, on the same device or a new
// one. This comment is the backup format's spec.
//
// One concern per file: keys.go (the keys a backup key gives, and object
// names), seal.go (the sealed object), manifest.go (the vault manifest),
// chunker.go (the database cut into pieces by content), packer.go (pieces
// and small media chunks in packs), upload.go (sending what the vault
// lacks), backup.go (Upload), password.go (the password's key slot and its
// stretch), owner.go (the owner key; Known and Delete, the backups of the
// keys a home holds), planner.go (what a restore fetches), restore.go
// (Restore), state.go (home/vault.json, StateFile), conn.go (the vault as
// this package uses it) and errors.go.
//
// # Format
//
// A backup key K (32 random bytes, shown as a recovery key or wrapped by a
// password) gives, by HKDF-SHA256 with one label each:
//
//	"ferry vault v1 backup id"     the 16-byte backup ID
//	"ferry vault v1 chunk name"    BLAKE3 key of the object names
//	"ferry vault v3 object key"    the key of each object's envelope, salt
//	                               backup ID || the object's name
//	"ferry vault v3 manifest key"  the key of the manifest's envelope, salt
//	                               backup ID
//	"ferry vault v1 owner key"     the seed of the Ed25519 owner key, salt
//	                               backup ID (see below)
//	"ferry vault v1 chunk",        the AES-256-GCM keys of the legacy seal
//	"ferry vault v1 manifest"      (read only, see legacy.go)
//
// The vault holds two kinds of objects: media chunks of the engine's
// manifest larger than packMedia (raw, one object each), and packs of up to
// packMax bytes holding database pieces and the smaller media chunks. The
// raw database is cut into pieces by content (see splitDB), so that a
// database that grew keeps most of its pieces; the pieces a backup adds
// are S2-compressed into packs (a piece alone, ~64 KiB stored, would cost a
// request and an object on the relay's storage, and show its size). An
// object of kind k (1 media, 3 pack) whose plaintext has BLAKE3 hash h is
// named BLAKE3-keyed(name key, k || h): identical objects of later backups
// with the same key have the same name, so a backup sends only what the
// vault lacks, while the operator cannot test a guess of content.
//
// An object is sealed in the archive envelope, the container `ferry
// export` writes (internal/archive; one implementation, internal/archive's
// Seal and Open): an archive of one frame under the object's key, whose
// plaintext is len (uint32 LE) || bytes || zeros, the zeros padding it to
// a size bucket (16 KiB × 2^k × 1, 1.25, 1.5 or 1.75). The key is bound to
// the backup ID and the name, so an object moved to another name or backup
// opens with no key that fits. Objects an earlier backup stored in the
// legacy seal (nonce || AES-GCM of the same padded plaintext, associated
// data "ferry vault v1 chunk" || backup ID || name) stay where they are
// and are told apart by the archive's magic.
//
// The vault manifest is sealed the same way, under the manifest key (the
// legacy seal of versions before 3: associated data "ferry vault v1
// manifest" || backup ID), and holds
//
//	"FRYV" || version (1 byte: 3) || backup ID (16) || uvarint(sequence) ||
//	uvarint(Unix nanoseconds) || uvarint(len) || the engine's manifest ||
//	uvarint(p) || p × (BLAKE3 of a pack's plaintext (32) || uvarint(its size)) ||
//	uvarint(n) || n × (BLAKE3 of the raw piece (32) || uvarint(piece size) ||
//	                   uvarint(pack) || uvarint(offset) || uvarint(length)) ||
//	uvarint(k) || k × (a media chunk's hash (32) || uvarint(pack) ||
//	                   uvarint(offset) || uvarint(size))
//
// The pieces, in order, make up the database the engine manifest
// describes; each lies S2-compressed at offset, length bytes long, in the
// plaintext of pack number pack. The k entries place the packed media
// chunks (raw). The names the manifest refers to follow from the hashes and
// the name key. A backup after the first reads the previous manifest and
// refers to the pieces and chunks it already stored where they are: only
// new ones go into new packs. A pack stays on the relay while something in
// it is in use; one that the previous backup used less than half of is not
// referred to again, and what of it is in use goes into new packs (so that
// what a backup holds stays within about twice what it uses).
//
// Restore fetches the objects holding the media chunks and database pieces
// the home lacks, checks every piece's hash, stages media chunks with
// Receiver.Put (which checks them against the engine manifest) and the
// checked pieces with Receiver.PutDB, and commits: the digest check covers
// the whole. The sequence grows by one per backup; the home remembers the
// highest sequence it wrote or restored of each backup ID (home/vault.json,
// StateFile), so an operator serving an older manifest to that home is
// caught. A new device can only check that the manifest is authentic.
//
// With a password (key slot version 2), Argon2id(password,
// SHA-256("ferry vault v2 salt" || backup ID || salt)) gives by HKDF the
// key that wraps K ("ferry vault v2 key wrap", AES-256-GCM, associated
// data the backup ID) and the seed of an Ed25519 key ("ferry vault v2 auth
// key") whose public half the relay keeps: the device proves the password
// by signing the relay's fresh challenge (see vault.ProofMessage), so a
// proof is good for one challenge of one relay. The salt the relay keeps
// is random per slot and bound to the backup ID, so one salt served to
// everyone cannot make one precomputed table serve every backup. The
// Argon2id parameters come back from the relay: a restore refuses any
// below archive.DefaultParams() in time or memory, and below what this
// home last wrote or restored for that backup (vault.json "stretch"),
// before it computes or sends anything (ErrWeakStretch). Slots of the
// first version (salt alone, SHA-256 of a fixed proof) are no longer
// opened: the device that made one writes a version 2 slot with its next
// password backup.
//
// # Owner keys
//
// Upload gives the relay the public half of the owner key (PutOwnerKey)
// before anything else of the backup; the relay keeps it in the backup's
// record. A device that holds the backup key signs the relay's fresh
// challenge with the private half (vaultproto.OwnerProofMessage: its own
// label, the backup ID, the challenge and both peer IDs) to list the
// backup or delete it, whichever device made it (Known, Delete): a home
// restored on a new device, or the home that switched to another key. A
// device without the key sees and deletes only its own backups, as the
// relay's account rules say. The public key tells the relay nothing of
// the backup key (a one-way function of it, under a label of its own), the
// backup ID it is kept with is already derived from the key, and a proof
// answers one challenge of one relay to one device. A backup made before
// owner keys has none on the relay until its device backs up again (every
// Upload puts it); meanwhile Known lists it from its manifest and only its
// device deletes it. A relay of an older version refuses PutOwnerKey as
// malformed: Upload goes on without (Result.OwnerKey false).
//
// home/vault.json (mode 0600) keeps the current backup's key, ID and mode,
// so that later backups reuse them (incremental), the sequences seen, and
// ("keys") the key of every other backup this home can reach: the one a
// switch between a password and a recovery key (or Options.Key) left
// behind (Result.Previous), and the one it was restored from. It holds
// backup keys in clear, like identity.key holds the device's identity:
// whoever can read the home can read the history anyway. The file stays
// version 1: "keys" is optional, and a Ferry before it ignores it.
//
// # What a newer reader promises about older backups
//
// A backup stays restorable by every later Ferry: manifest version 2 (the
// legacy seal throughout) and 3 (the envelope, with legacy objects of
// earlier backups kept in use) are read, and known-answer vaults of each
// (testdata/kat/vault-v2, vault-v3, with their facts in vault-vN.json)
// must restore in the tests, and a version 3 manifest must marshal back to
// its bytes. A key slot of version 1 is read but not opened with its
// password (ErrOldKeySlot, vault-v1): its device renews it with its next
// backup. Manifest version 1 (one piece per object) is refused with an
// error that says to make a new backup, and Upload starts afresh over it.
// A manifest of a version above 3 is ErrNewerVersion: this Ferry never
// restores what it cannot read whole. An older Ferry reads none of
// version 3: the envelope does not open with the legacy seal, and it says
// the backup is damaged; upgrade it.
package backup

package vault

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"

	"github.com/ferryhq/ferry/relay/vaultproto"
)

// Owner keys: a backup's owner (the device that first wrote it) puts the
// public half of an Ed25519 key that its device derives from the backup
// key (PutOwnerKey; package backup has the label), and the relay keeps it
// in the backup's record. A device that signs a fresh challenge of this
// stream with the private half (OwnerProofMessage: the backup ID, the
// challenge and both peer IDs) may then list or delete the backup,
// whichever device made it: the device a backup was restored on, or the
// one that made it with a key it switched away from. A proof answers one
// challenge (the next ListWithKey or DeleteWithKey on the stream). Without
// the key, a device sees and deletes only its own backups, as before. The
// public key tells the relay nothing of the backup key, and a proof is
// good for one challenge of one relay to one device. A backup whose record
// has no owner key (made before owner keys, or by a device that has not
// backed up since) answers ErrNoOwnerKey. So a device that knows a backup
// ID but not its key learns that the ID is in use (as a read tells it)
// and whether its owner put a key, nothing more.

// putOwnerKey records the owner key of a backup acct owns (created if new,
// as a key slot would be).
func (s *Server) putOwnerKey(ctx context.Context, acct string, id [vaultproto.IDSize]byte, public [vaultproto.OwnerKeySize]byte) error {
	return s.withOwned(ctx, acct, id, func(m meta) error {
		if bytes.Equal(m.OwnerKey, public[:]) && m.Version == metaVersion {
			return s.touchLocked(ctx, id, m)
		}
		m.OwnerKey, m.Touched = public[:], s.cfg.Now().Unix()
		return s.saveMetaLocked(ctx, id, m)
	})
}

// ownerChallenge answers OwnerChallenge: a new challenge for this
// stream's next proof of backup id's key.
func (s *Server) ownerChallenge(ctx context.Context, sess *session, id [vaultproto.IDSize]byte) ([]byte, error) {
	sess.hasOwnerChallenge = false
	m, err := s.loadMeta(ctx, id)
	if err != nil {
		return nil, err
	}
	if len(m.OwnerKey) == 0 {
		return nil, vaultproto.ErrNoOwnerKey
	}
	if _, err := io.ReadFull(rand.Reader, sess.ownerChallenge[:]); err != nil {
		return nil, fmt.Errorf("challenge: %w", err)
	}
	sess.ownerChallengeID, sess.hasOwnerChallenge = id, true
	return bytes.Clone(sess.ownerChallenge[:]), nil
}

// proveOwner checks a proof of backup id's key against this stream's
// challenge, which it uses up, and returns the backup's record.
func (s *Server) proveOwner(ctx context.Context, sess *session, id [vaultproto.IDSize]byte, sig [vaultproto.SignatureSize]byte) (meta, error) {
	challenge, ok := sess.ownerChallenge, sess.hasOwnerChallenge && sess.ownerChallengeID == id
	sess.hasOwnerChallenge = false // one proof per challenge
	if !ok {
		return meta{}, fmt.Errorf("%w: a proof of a key without a challenge (ask for one first, on the same stream)", vaultproto.ErrBadRequest)
	}
	m, err := s.loadMeta(ctx, id)
	if err != nil {
		return meta{}, err
	}
	if err := checkOwnerProof(m, vaultproto.OwnerProofMessage(id, challenge, sess.relay, sess.from), sig); err != nil {
		s.log.Warn("vault: wrong proof of a backup key", "backup", hex.EncodeToString(id[:4]), "peer", sess.from)
		return meta{}, err
	}
	return m, nil
}

func checkOwnerProof(m meta, msg []byte, sig [vaultproto.SignatureSize]byte) error {
	if len(m.OwnerKey) != vaultproto.OwnerKeySize {
		return vaultproto.ErrNoOwnerKey
	}
	if !ed25519.Verify(ed25519.PublicKey(m.OwnerKey), msg, sig[:]) {
		return fmt.Errorf("the proof of the backup key does not check: %w", vaultproto.ErrForbidden)
	}
	return nil
}

// listWithKey answers ListWithKey: backup id as List shows it, for a
// right proof of its key.
func (s *Server) listWithKey(ctx context.Context, sess *session, id [vaultproto.IDSize]byte, sig [vaultproto.SignatureSize]byte) ([]byte, error) {
	m, err := s.proveOwner(ctx, sess, id, sig)
	if err != nil {
		return nil, err
	}
	defer s.lockAccount(m.Owner)()
	pending, err := s.pending(ctx, id, m)
	if err != nil {
		return nil, err
	}
	e := vaultproto.Backup{ID: id, Updated: max(m.Updated, m.Created), Size: m.Size + pending}
	return vaultproto.AppendBackups(nil, []vaultproto.Backup{e}), nil
}

// deleteWithKey answers DeleteWithKey: backup id is removed, for a right
// proof of its key, as its owner's Delete would.
func (s *Server) deleteWithKey(ctx context.Context, sess *session, id [vaultproto.IDSize]byte, sig [vaultproto.SignatureSize]byte) error {
	m, err := s.proveOwner(ctx, sess, id, sig)
	if err != nil {
		return err
	}
	defer s.lockAccount(m.Owner)()
	defer s.lockBackup(id)()
	now, err := s.loadMetaLocked(ctx, id)
	if err != nil {
		return err
	}
	if now.Owner != m.Owner || !bytes.Equal(now.OwnerKey, m.OwnerKey) {
		// Removed and made anew since the proof was checked: the proof
		// was of the backup that went.
		return fmt.Errorf("backup made anew meanwhile: %w", vaultproto.ErrForbidden)
	}
	return s.removeLocked(ctx, id, now.Owner)
}

package p2p

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"

	"github.com/libp2p/go-libp2p/core/crypto"
	cryptopb "github.com/libp2p/go-libp2p/core/crypto/pb"
	"google.golang.org/protobuf/proto"

	"github.com/ferryhq/ferry/internal/atomicfile"
)

// IdentityFile is the name, inside a home, of the file holding the device's
// libp2p private key (libp2p's protobuf PrivateKey encoding, Ed25519).
const IdentityFile = "identity.key"

// ErrIdentityPermissions means the identity key file can be read by users
// other than its owner; Ferry refuses to use it until that is fixed.
var ErrIdentityPermissions = errors.New("the identity key file is readable by other users; make it private (chmod 600) and try again")

// LoadIdentity returns the device's Ed25519 libp2p private key stored in
// home, creating home (0700) and the key file (0600) on first use. The peer
// ID derived from it is the device's stable identity: it is what paired
// devices pin.
func LoadIdentity(home string) (crypto.PrivKey, error) {
	if home == "" {
		return nil, errors.New("load identity: no home directory given")
	}
	path := filepath.Join(home, IdentityFile)
	sk, err := readIdentity(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return sk, err
	}
	if err := os.MkdirAll(home, 0o700); err != nil {
		return nil, fmt.Errorf("load identity: create home: %w", err)
	}
	sk, _, err = crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("load identity: generate key: %w", err)
	}
	raw, err := crypto.MarshalPrivateKey(sk)
	if err != nil {
		return nil, fmt.Errorf("load identity: marshal key: %w", err)
	}
	// Written whole, then linked into place: a crash never leaves a
	// half-written key, and of two processes racing to create the key
	// exactly one wins and both end up using its key.
	if err := atomicfile.WriteNew(path, raw, 0o600); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("load identity: %w", err)
	}
	return readIdentity(path)
}

// ReadIdentity returns the device's key stored in home without creating
// anything: an error wrapping fs.ErrNotExist when the home has no identity
// yet. For commands that only look (ferry status).
func ReadIdentity(home string) (crypto.PrivKey, error) {
	if home == "" {
		return nil, errors.New("load identity: no home directory given")
	}
	return readIdentity(filepath.Join(home, IdentityFile))
}

func readIdentity(path string) (crypto.PrivKey, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("load identity: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("load identity: %w", err)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("load identity %s (mode %04o): %w", path, fi.Mode().Perm(), ErrIdentityPermissions)
	}
	const maxKeyFile = 4 << 10
	raw, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	if err != nil {
		return nil, fmt.Errorf("load identity: read %s: %w", path, err)
	}
	if len(raw) > maxKeyFile {
		return nil, fmt.Errorf("load identity: %s is too large to be a key", path)
	}
	sk, err := parseIdentity(raw)
	if err != nil {
		return nil, fmt.Errorf("load identity %s: %w", path, err)
	}
	return sk, nil
}

// parseIdentity decodes a libp2p protobuf PrivateKey and insists on Ed25519.
func parseIdentity(raw []byte) (crypto.PrivKey, error) {
	// Check the type before decoding the key: decoding other types (RSA)
	// can be slow on a hostile file, and only Ed25519 is accepted anyway.
	var msg cryptopb.PrivateKey
	if err := proto.Unmarshal(raw, &msg); err != nil {
		return nil, fmt.Errorf("not a libp2p private key: %w", err)
	}
	if msg.GetType() != cryptopb.KeyType_Ed25519 {
		return nil, fmt.Errorf("identity key is %s, want Ed25519", msg.GetType())
	}
	sk, err := crypto.UnmarshalEd25519PrivateKey(msg.GetData())
	if err != nil {
		return nil, fmt.Errorf("not a libp2p private key: %w", err)
	}
	return sk, nil
}

package importers

import (
	"encoding/binary"

	"lukechampine.com/blake3"
)

// Platforms, as written to the source columns and fed to every ID.
const (
	platformWhatsApp = "whatsapp"
	platformTelegram = "telegram"
)

// The kinds of ID an import derives, each with its own key (idKeys).
const (
	idConversation = iota
	idContact
	idMessage
	idAttachment
	numIDKinds
)

var idLabels = [numIDKinds]string{
	"ferry import v1 conversation id",
	"ferry import v1 contact id",
	"ferry import v1 message id",
	"ferry import v1 attachment id",
}

// idHasher derives the IDs of imported rows (doc.go, "IDs"): the 6-byte
// millisecond time, then the first 10 bytes of a keyed BLAKE3 hash, under a
// fixed key per kind of ID (BLAKE3 of its label), of the row's identity
// fields, each length-prefixed. It is not safe for concurrent use.
type idHasher struct {
	h   [numIDKinds]*blake3.Hasher
	buf []byte
	out [32]byte
}

func newIDHasher() *idHasher {
	x := &idHasher{buf: make([]byte, 0, 256)}
	for i, l := range idLabels {
		key := blake3.Sum256([]byte(l))
		x.h[i] = blake3.New(32, key[:])
	}
	return x
}

// field appends one length-prefixed field to the input being built.
func (x *idHasher) field(b []byte) {
	x.buf = binary.AppendUvarint(x.buf, uint64(len(b)))
	x.buf = append(x.buf, b...)
}
func (x *idHasher) str(s string) {
	x.buf = binary.AppendUvarint(x.buf, uint64(len(s)))
	x.buf = append(x.buf, s...)
}
func (x *idHasher) num(n int64) { x.buf = binary.BigEndian.AppendUint64(x.buf, uint64(n)) }

// sum hashes the fields added since the last sum under kind's key and
// returns the ID for time ms.
func (x *idHasher) sum(kind int, ms int64) [16]byte {
	h := x.h[kind]
	h.Reset()
	h.Write(x.buf)
	x.buf = x.buf[:0]
	h.Sum(x.out[:0])
	var id [16]byte
	var t [8]byte
	binary.BigEndian.PutUint64(t[:], uint64(ms))
	copy(id[:6], t[2:])
	copy(id[6:], x.out[:10])
	return id
}

// conversation is the ID of a chat: platform and the chat's identity
// (WhatsApp: its title; Telegram: its chat id). Its time bytes are zero.
func (x *idHasher) conversation(platform, identity string) [16]byte {
	x.str(platform)
	x.str(identity)
	return x.sum(idConversation, 0)
}

// contact is the ID of a person: platform and their identity (WhatsApp:
// the name the chat shows; Telegram: from_id, else "name:" and the name).
func (x *idHasher) contact(platform, identity string) [16]byte {
	x.str(platform)
	x.str(identity)
	return x.sum(idContact, 0)
}

// lineMessage is the ID of a message of an export without message IDs
// (WhatsApp): the chat, the sender as written, the time, whether it is an
// event or deleted, the body as stored, and n, its position among earlier
// lines of the chat equal in all of these.
func (x *idHasher) lineMessage(platform, chat, sender string, ms int64, flags byte, body string, n int) [16]byte {
	x.str(platform)
	x.str(chat)
	x.str(sender)
	x.num(ms)
	x.field([]byte{flags})
	x.str(body)
	x.num(int64(n))
	return x.sum(idMessage, ms)
}

// nativeMessage is the ID of a message that has an ID of its own in its
// chat (Telegram): the chat's id and the message's.
func (x *idHasher) nativeMessage(platform, chat, native string, ms int64) [16]byte {
	x.str(platform)
	x.str(chat)
	x.str(native)
	return x.sum(idMessage, ms)
}

// attachment is the ID of an attachment: its message, its position in it
// and every immutable column (name, type, content hash, size), so that two
// exports that carry other bytes or names for it add a second row rather
// than disagree about one.
func (x *idHasher) attachment(msg [16]byte, ms int64, pos int, name, mime string, hash [32]byte, size int64) [16]byte {
	x.field(msg[:])
	x.num(int64(pos))
	x.str(name)
	x.str(mime)
	x.field(hash[:])
	x.num(size)
	return x.sum(idAttachment, ms)
}

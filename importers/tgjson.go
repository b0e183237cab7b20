package importers

import (
	"fmt"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// jsonValue reads one JSON value that encoding/json's Decoder has already
// checked for syntax (a message of a Telegram export, as a RawMessage) into
// Go values by hand: reflection made decoding cost more than everything else
// an import does per message. It still never trusts the bytes: a value of
// an unexpected type sets err, and every index is checked.
type jsonValue struct {
	b   []byte
	i   int
	err error
}

func (r *jsonValue) fail(what string) {
	if r.err == nil {
		r.err = fieldError(fmt.Sprintf("%s at offset %d of the message", what, r.i))
	}
	r.i = len(r.b)
}

func (r *jsonValue) ws() {
	for r.i < len(r.b) {
		switch r.b[r.i] {
		case ' ', '\t', '\n', '\r':
			r.i++
		default:
			return
		}
	}
}

// peek returns the next non-space byte, 0 at the end.
func (r *jsonValue) peek() byte {
	r.ws()
	if r.i >= len(r.b) {
		return 0
	}
	return r.b[r.i]
}

func (r *jsonValue) eat(c byte) bool {
	if r.peek() == c {
		r.i++
		return true
	}
	return false
}

// object calls field for each key of an object; field reads the value.
func (r *jsonValue) object(field func(key string)) {
	if !r.eat('{') {
		r.fail("not an object")
		return
	}
	if r.eat('}') {
		return
	}
	for r.err == nil {
		k := r.rawString()
		if !r.eat(':') {
			r.fail("no colon after a key")
			return
		}
		field(k)
		if r.eat(',') {
			continue
		}
		if !r.eat('}') {
			r.fail("object not closed")
		}
		return
	}
}

// array calls elem for each element of an array; elem reads it.
func (r *jsonValue) array(elem func()) {
	if !r.eat('[') {
		r.fail("not an array")
		return
	}
	if r.eat(']') {
		return
	}
	for r.err == nil {
		elem()
		if r.eat(',') {
			continue
		}
		if !r.eat(']') {
			r.fail("array not closed")
		}
		return
	}
}

// null reads a null if there is one.
func (r *jsonValue) null() bool {
	if r.peek() == 'n' && r.i+4 <= len(r.b) && string(r.b[r.i:r.i+4]) == "null" {
		r.i += 4
		return true
	}
	return false
}

// rawString reads a string without the checks of str (keys).
func (r *jsonValue) rawString() string {
	if !r.eat('"') {
		r.fail("not a string")
		return ""
	}
	start := r.i
	for r.i < len(r.b) {
		switch c := r.b[r.i]; {
		case c == '"':
			s := string(r.b[start:r.i])
			r.i++
			return s
		case c == '\\':
			r.i = start - 1
			return r.escaped()
		case c < 0x20:
			r.fail("control character in a string")
			return ""
		default:
			r.i++
		}
	}
	r.fail("string not closed")
	return ""
}

// escaped decodes a string with escapes, r.i at its opening quote.
func (r *jsonValue) escaped() string {
	r.i++
	out := make([]byte, 0, 64)
	for r.i < len(r.b) {
		c := r.b[r.i]
		switch {
		case c == '"':
			r.i++
			return string(out)
		case c != '\\':
			out = append(out, c)
			r.i++
			continue
		}
		if r.i+1 >= len(r.b) {
			break
		}
		e := r.b[r.i+1]
		r.i += 2
		switch e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			c1, ok := r.hex4()
			if !ok {
				r.fail("bad \\u escape")
				return ""
			}
			ch := rune(c1)
			if utf16.IsSurrogate(ch) {
				ch = utf8.RuneError
				if r.i+1 < len(r.b) && r.b[r.i] == '\\' && r.b[r.i+1] == 'u' {
					save := r.i
					r.i += 2
					if c2, ok := r.hex4(); ok {
						if d := utf16.DecodeRune(rune(c1), rune(c2)); d != utf8.RuneError {
							ch = d
						} else {
							r.i = save
						}
					} else {
						r.i = save
					}
				}
			}
			out = utf8.AppendRune(out, ch)
		default:
			r.fail("bad escape")
			return ""
		}
	}
	r.fail("string not closed")
	return ""
}

func (r *jsonValue) hex4() (uint16, bool) {
	if r.i+4 > len(r.b) {
		return 0, false
	}
	v, err := strconv.ParseUint(string(r.b[r.i:r.i+4]), 16, 16)
	if err != nil {
		return 0, false
	}
	r.i += 4
	return uint16(v), true
}

// str reads a string, or null as "".
func (r *jsonValue) str() string {
	if r.null() {
		return ""
	}
	if r.peek() != '"' {
		r.fail("not text")
		return ""
	}
	s := r.rawString()
	if !utf8.ValidString(s) {
		return string([]rune(s))
	}
	return s
}

// optStr reads a string or null.
func (r *jsonValue) optStr() *string {
	if r.null() {
		return nil
	}
	s := r.str()
	return &s
}

// literal reads a number, true or false as its text.
func (r *jsonValue) literal() string {
	r.ws()
	start := r.i
	for r.i < len(r.b) {
		switch c := r.b[r.i]; {
		case c >= '0' && c <= '9', c == '-', c == '+', c == '.', c == 'e', c == 'E', c >= 'a' && c <= 'z':
			r.i++
			continue
		}
		break
	}
	if r.i == start {
		r.fail("not a value")
	}
	return string(r.b[start:r.i])
}

// int reads an integer written as a number or as a string of digits.
func (r *jsonValue) int() flexInt {
	if r.null() {
		return flexInt{}
	}
	var s string
	if r.peek() == '"' {
		s = r.str()
	} else {
		s = r.literal()
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		r.fail(fmt.Sprintf("not an integer: %.40q", s))
		return flexInt{}
	}
	return flexInt{v, true}
}

func (r *jsonValue) float() float64 {
	v, err := strconv.ParseFloat(r.literal(), 64)
	if err != nil {
		r.fail("not a number")
	}
	return v
}

// peer reads a peer id: "user123", or a bare number (a user).
func (r *jsonValue) peer() peerID {
	switch r.peek() {
	case '"':
		return peerID(r.str())
	case 'n':
		r.null()
		return ""
	}
	v := r.int()
	if !v.set {
		return ""
	}
	return peerID("user" + strconv.FormatInt(v.v, 10))
}

// text reads a message's text: a string, or an array of strings and entity
// objects whose "text" it joins.
func (r *jsonValue) text() tgText {
	switch r.peek() {
	case '"', 'n':
		return tgText(r.str())
	case '[':
		var out []byte
		r.array(func() {
			if r.peek() == '"' {
				out = append(out, r.str()...)
				return
			}
			r.object(func(k string) {
				if k == "text" {
					out = append(out, r.str()...)
				} else {
					r.skip()
				}
			})
		})
		return tgText(out)
	}
	r.fail("text is neither a string nor an array")
	return ""
}

// skip reads any value.
func (r *jsonValue) skip() {
	switch r.peek() {
	case '{':
		r.object(func(string) { r.skip() })
	case '[':
		r.array(r.skip)
	case '"':
		r.rawString()
	default:
		r.literal()
	}
}

// message reads a Telegram message object into m.
func (r *jsonValue) message(m *tgMessage) {
	r.object(func(k string) {
		switch k {
		case "id":
			m.ID = r.int()
		case "type":
			m.Type = r.str()
		case "date":
			m.Date = r.str()
		case "date_unixtime":
			m.DateUnix = r.int()
		case "edited":
			m.Edited = r.str()
		case "edited_unixtime":
			m.EditedUnix = r.int()
		case "from":
			m.From = r.optStr()
		case "from_id":
			m.FromID = r.peer()
		case "actor":
			m.Actor = r.optStr()
		case "actor_id":
			m.ActorID = r.peer()
		case "action":
			m.Action = r.str()
		case "title":
			m.Title = r.str()
		case "members":
			if r.null() {
				return
			}
			r.array(func() { m.Members = append(m.Members, r.optStr()) })
		case "text":
			m.Text = r.text()
		case "reply_to_message_id":
			m.ReplyTo = r.int()
		case "message_id":
			m.MessageID = r.int()
		case "photo":
			m.Photo = r.str()
		case "file":
			m.File = r.str()
		case "file_name":
			m.FileName = r.str()
		case "mime_type":
			m.MimeType = r.str()
		case "duration_seconds":
			m.Duration = r.int()
		case "discard_reason":
			m.DiscardReason = r.str()
		case "reactions":
			if r.null() {
				return
			}
			r.array(func() { m.Reactions = append(m.Reactions, r.reaction()) })
		case "poll":
			if r.null() {
				return
			}
			m.Poll = &tgPoll{}
			r.object(func(k string) {
				switch k {
				case "question":
					m.Poll.Question = r.str()
				case "answers":
					r.array(func() {
						var a tgAnswer
						r.object(func(k string) {
							if k == "text" {
								a.Text = r.str()
							} else {
								r.skip()
							}
						})
						m.Poll.Answers = append(m.Poll.Answers, a)
					})
				default:
					r.skip()
				}
			})
		case "location_information":
			if r.null() {
				return
			}
			m.Location = &tgLocation{}
			r.object(func(k string) {
				switch k {
				case "latitude":
					m.Location.Latitude = r.float()
				case "longitude":
					m.Location.Longitude = r.float()
				default:
					r.skip()
				}
			})
		case "contact_information":
			if r.null() {
				return
			}
			m.Contact = &tgContact{}
			r.object(func(k string) {
				switch k {
				case "first_name":
					m.Contact.FirstName = r.str()
				case "last_name":
					m.Contact.LastName = r.str()
				case "phone_number":
					m.Contact.Phone = r.str()
				default:
					r.skip()
				}
			})
		default:
			r.skip()
		}
	})
}

func (r *jsonValue) reaction() tgReaction {
	var re tgReaction
	r.object(func(k string) {
		switch k {
		case "type":
			re.Type = r.str()
		case "emoji":
			re.Emoji = r.str()
		case "recent":
			if r.null() {
				return
			}
			r.array(func() {
				var who tgReactor
				r.object(func(k string) {
					switch k {
					case "from":
						who.From = r.optStr()
					case "from_id":
						who.FromID = r.peer()
					case "date":
						who.Date = r.str()
					default:
						r.skip()
					}
				})
				re.Recent = append(re.Recent, who)
			})
		default:
			r.skip()
		}
	})
	return re
}

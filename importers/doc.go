// Package importers brings chat exports of other apps into a Ferry home:
// WhatsApp's "Export chat" (Android and iOS, with or without media) and
// Telegram Desktop's JSON export (one chat, or the whole account). Import
// reads one export as a stream, stages its rows in a database of the
// canonical schema (chatstore.Writer) and its media next to it, and only
// when all of it has been read merges the rows into the home in one
// transaction (chatstore's merge rules) and moves the media in. Preview
// (a dry run) reads and stages the export the same way and, instead of
// merging, counts what the merge would add (chatstore's Store.WouldAdd),
// changing nothing in the home.
//
// One file per format: whatsapp.go (lines to messages), whatsapp_time.go
// (dates and times), whatsapp_words.go (the localised markers),
// telegram.go and tgjson.go (the JSON); input.go finds the chat file in a
// zip or folder (container.go), build.go turns what the parsers read into
// rows, ids.go derives their IDs, import.go runs it all.
//
// # WhatsApp, as found in the wild
//
// "Export chat" writes one text file, UTF-8 (sometimes with a byte order
// mark; CRLF line ends from some Android versions), with or without the
// media files:
//
//   - Android: "WhatsApp Chat with NAME.txt" (the prefix is localised:
//     "WhatsApp-Chat mit NAME", "Chat de WhatsApp con NAME", "Conversa do
//     WhatsApp com NAME", ...), alone or in a .zip of the same name holding
//     the media at its top. A message starts with its date and time, " - ",
//     the sender's name, ": " and the text: "3/18/25, 5:49 PM - Bob: hi".
//     System lines have no sender: "18/03/2025, 17:49 - Alice added Bob",
//     and the first line is usually the encryption notice. An attachment is
//     "IMG-20250318-WA0001.jpg (file attached)" (the suffix is localised:
//     "(Datei angehängt)", "(archivo adjunto)"), its caption on the lines
//     after it; exported without media it is "<Media omitted>" ("<Medien
//     ausgeschlossen>", "<Multimedia omitido>").
//   - iOS: a .zip "WhatsApp Chat - NAME.zip" holding "_chat.txt" and the
//     media, named with a counter of the export, a kind and the time:
//     "00000004-PHOTO-2018-11-29-10-52-13.jpg". A message is "[29/11/2018,
//     10:50:41] Bob: hi" (seconds always). Attachments are
//     "‎<attached: FILE>" with a U+200E (left-to-right mark) before it, and
//     often before the line too; without media "‎image omitted", "‎video
//     omitted", "‎Bild weggelassen". System lines carry a sender too, the
//     group's name (or, in a direct chat, the contact's), and their text
//     starts with U+200E: "[29/11/2018, 10:50:41] Family: ‎Dan added you".
//
// Dates come in every order (M/D/Y, D/M/Y, Y/M/D), with "/", "." or "-",
// two- or four-digit years ("2025. 03. 18." in Hungarian); 12- and 24-hour
// clocks, with or without seconds, the 12-hour marker in several languages
// ("AM", "p. m.", "nachm.") after a space, U+00A0 or U+202F; a word may stand
// between date and time ("à", "klo"). The order is decided from the whole
// file, not line by line (orderVote): a first number above 12 makes it
// day first, a second above 12 month first; when no day passes 12, the
// order under which the chat runs forward in time wins; when even that ties
// (a chat of a few days), a 12-hour clock without dots means month first
// (the US habit) and anything else day first. A line that looks like a
// message of the file's kind but names no real date or time is reported,
// with the lines that belong to it, and not imported.
//
// A message runs until the next line that starts with a full header of the
// file's kind: a continuation line may itself start like a date ("18.03.25
// war ein Dienstag") without being taken for one. " <This message was
// edited>" at the end (localised) marks an edit: the message is stored
// edited (its edit time unknown, the time it was sent stands in) without
// the marker. "This message was deleted" / "You deleted this message"
// (localised, with or without a final dot) is a deleted message: empty
// body, deleted at the time it was sent. System lines (the encryption
// notice, "X added Y", a group created or renamed) become system events
// (chatstore: kind 1), with their text as the export has it, not messages
// from a person. A chat is direct when its title is the name of one of at
// most two people who write in it, else a group.
//
// Times carry no zone: Options.Location says which (the CLI's --tz,
// default the local zone). The chat's title, and its identity, comes from
// the chat file's name, else the zip's or folder's ("WhatsApp Chat with
// Bob.txt" → "Bob"; a browser's " (1)" is dropped).
//
// # Telegram Desktop, as found in the wild
//
// "Export chat history" (format: JSON) writes a folder, ChatExport_DATE,
// holding result.json with one chat {"name", "type", "id", "messages":
// [...]} and the media in photos/, files/, video_files/, voice_messages/,
// stickers/...; "Export Telegram data" writes the whole account:
// {"personal_information": {"user_id", ...}, "contacts", "chats": {"list":
// [chat, ...]}, "left_chats": {"list": [...]}, ...}. Keys come in that
// order (id before messages). Each message has "id", "type" ("message" or
// "service"), "date" (local time of the exporting computer, no zone) and,
// in exports since 2021, "date_unixtime" (a string of seconds), which wins;
// "edited"/"edited_unixtime"; "from" (null for a deleted account) and
// "from_id" ("user123", "channel123"; a bare number in old exports);
// "text" as a string or an array of strings and entity objects
// ({"type": "bold", "text": "..."}), joined here to plain text;
// "reply_to_message_id"; "photo" or "file" (with "file_name",
// "mime_type"), paths relative to the export folder, or a placeholder
// "(File not included. Change data exporting settings to download.)" when
// left out; "reactions" with the "recent" people who reacted; "poll",
// "location_information", "contact_information". Service messages carry
// "actor", "actor_id", "action" (create_group, invite_members,
// pin_message, phone_call, edit_group_title, ...) and its fields; they
// become system events, written as an English sentence ("Alice added
// Kofi"), their sender the actor. A personal chat, a bot chat and saved
// messages are direct conversations; groups, supergroups and channels are
// groups. The full-account export names its owner (personal_information),
// who is marked as such.
//
// The JSON is read as a stream, token by token, each message on its own
// (exports reach gigabytes): memory does not grow with the export, except
// for 4 bytes per message of a chat to find the time of a message replied
// to (a reply to a message the export lacks is stored without its
// reply_to; a later export that has it fills it in, chatstore's merge rule).
//
// # IDs
//
// chatstore keys are 16 bytes: 6 bytes of milliseconds, then 10 more. An
// import derives them from the export's content (ids.go), so that the same
// export imported twice, on two devices, or after the history was migrated,
// gives the same rows, which then merge into one: the 10 bytes are the
// first 10 of a keyed BLAKE3 hash, one fixed key per kind of ID (BLAKE3 of
// "ferry import v1 conversation id", "... contact id", "... message id",
// "... attachment id"), over length-prefixed fields:
//
//   - conversation: platform ("whatsapp", "telegram") and the chat's
//     identity (WhatsApp: its title; Telegram: its chat id); time bytes 0.
//   - contact: platform and the person's identity (WhatsApp: the name the
//     chat shows; Telegram: from_id, else "name:" and the name); time 0.
//   - message, WhatsApp: platform, chat identity, sender's name ("" for a
//     system event), time, whether it is an event or deleted, the body as
//     stored (markers removed), and its position among the earlier lines of
//     the chat equal in all of these (two "ok" from Bob in the same
//     minute); time bytes: the message's time.
//   - message, Telegram: platform, chat id and message id; time bytes: the
//     message's time.
//   - attachment: the message's ID, its position in it, its stored name,
//     MIME type, content hash and size; time bytes: the message's time.
//
// So a later, longer export of the same chat adds only the messages the
// earlier one lacked, and an export with media adds the attachments to the
// messages an export without media made (iOS's export counter is left out
// of the stored name). The limits:
//
//   - A WhatsApp message edited or deleted between two exports has another
//     body, so another ID: the later export adds it beside the old version.
//   - WhatsApp's times are as the phone wrote them and read in the zone
//     given: the same export imported with another zone is another history.
//     Use the same zone on every device.
//   - A renamed WhatsApp export file is another chat (the title is its
//     identity); so is the same chat exported on Android and on iOS
//     (seconds on one, not on the other). Where an export without media
//     leaves a caption out, that message differs from the same one
//     exported with its media.
//   - Positions among equal lines are counted within 48 hours of the
//     latest message read: two equal lines further apart and out of order
//     would share an ID (the second then merges into the first).
//   - Telegram exports older than date_unixtime carry local times: the
//     zone decides their IDs as for WhatsApp.
//
// # Owner
//
// Which contact is the device's owner is not in a single-chat export:
// Options.Owner names them (the CLI's --me), or Options.AskOwner asks
// when more than one person wrote. The mark is a contact's "self" column,
// never a change of sender, so two devices that disagree about the owner
// still merge (the mark is a union).
//
// # Bad input
//
// Every failure is an *Error whose Text is a sentence naming the input and
// what to do, of one kind (ErrNotExport, ErrDamaged, ErrDateFormat,
// ErrMissingMedia, ErrUnsafeName, ErrUnknownOwner), and nothing is written
// to the home: a zip is read entry by entry through its directory, never
// extracted, and an entry that fails its checksum stops the import; a file
// name from an export (an attachment named in a chat, a Telegram path, a
// zip entry) is refused if it could reach outside the export (names.go:
// "..", an absolute path, a drive letter, a backslash, a NUL); a folder is
// read through an os.Root, so that a symbolic link out of it is refused
// too. Lines or messages that cannot be read are counted and listed in the
// Result, never dropped silently.
package importers

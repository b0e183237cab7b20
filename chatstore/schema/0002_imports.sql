-- Schema version 2: history imported from other apps (see package importers).
-- Every new column has a default that means "made by Ferry itself, nothing
-- imported", and a row that holds only defaults hashes into the digest exactly
-- as it did in version 1 (digest.go).

-- source: the app a row was imported from ('whatsapp', 'telegram'); '' for
-- history Ferry made itself. native: the app's own ID of the row where the
-- export gives one (Telegram's from_id such as 'user123', its chat id, its
-- message id), else ''. Both are immutable: a merge keeps the target's value.
-- self: 1 if this contact is the device's owner on that app (ferry history
-- import --me); a merge keeps 1 once either side has it. The owner of a
-- history made by Ferry is the contact with the fixed ID 00…01 (seed.go).
ALTER TABLE contacts ADD COLUMN source TEXT NOT NULL DEFAULT '';
ALTER TABLE contacts ADD COLUMN native TEXT NOT NULL DEFAULT '';
ALTER TABLE contacts ADD COLUMN self INTEGER NOT NULL DEFAULT 0 CHECK (self IN (0, 1));

ALTER TABLE conversations ADD COLUMN source TEXT NOT NULL DEFAULT '';
ALTER TABLE conversations ADD COLUMN native TEXT NOT NULL DEFAULT '';

-- kind: 0 a message written by a person (its sender); 1 a system event (the
-- encryption notice, "Alice added Bob", a group created or renamed, a call),
-- whose body is the event's text and whose sender is the contact who did it
-- when the export says so, else the all-zero ID (no contact). Immutable.
-- native: as above (Telegram's message id). Immutable.
-- omitted: how many attachments the export named but did not carry
-- (WhatsApp's "<Media omitted>", Telegram's "File not included"); a merge
-- keeps the larger count. A later export that carries them adds attachment
-- rows to the same message: readers show max(omitted - attachments, 0) as
-- missing.
ALTER TABLE messages ADD COLUMN kind INTEGER NOT NULL DEFAULT 0 CHECK (kind IN (0, 1));
ALTER TABLE messages ADD COLUMN native TEXT NOT NULL DEFAULT '';
ALTER TABLE messages ADD COLUMN omitted INTEGER NOT NULL DEFAULT 0 CHECK (omitted >= 0);

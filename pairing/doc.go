// Package pairing turns a short code, read off one screen and typed on another,
// into two devices that know and pin each other's long-term keys — without
// letting anyone who watches or sits in the middle learn the code or test
// guesses of it offline.
//
// # Codes
//
// A code is <nameplate>-<word>-<word>[-<word>...], e.g. 7-zebra-acorn. The
// nameplate (1..99 from NewCode) is public: it only picks this session among
// others nearby (mDNS TXT np=) or on a relay. The words are the secret, drawn
// uniformly by crypto/rand from the EFF Short Wordlist #1 (wordlist.txt, CC BY
// 3.0 US; see WORDLIST-LICENSE), less its one hyphenated entry: 1,295 words,
// 10.34 bits each, so the default two words carry 20.7 bits (SessionConfig.Words,
// the CLI's --code-words, asks for more). ParseCode ignores case and treats
// spaces, hyphens, underscores, dots and commas alike; a word not in the list is
// reported before anything is sent, with the closest list words ("did you mean
// ...?") by edit distance.
//
// # Protocol
//
// The receiver (who typed the code, and dialled) is the initiator I; the sender
// (who shows the code) is the responder R. Both know both libp2p peer IDs from
// the transport. Every message is a frame:
//
//	frame   = length:uint16be  type:byte  body     (length counts type+body, >= 1)
//	type 1  CPACE_A  I->R  version:byte(1) sid:[16] Ya:[32] ADa
//	type 2  CPACE_B  R->I  Yb:[32] ADb
//	type 3  NOISE    one Noise handshake message, or the final transport message
//	type 4  ABORT    reason:byte  1 code mismatch, 2 session over, 3 protocol
//	                              error, 4 identity mismatch, 5 not paired
//	type 5  TRIES    R->I  left:byte   after ABORT(1) from a SendSession: how many
//	                              more wrong codes it allows (0: it has ended)
//
// A pairing is exactly six frames, strictly alternating:
//
//	I->R CPACE_A
//	R->I CPACE_B
//	I->R NOISE  -> psk, e                 payload empty
//	R->I NOISE  <- e, ee, s, es           payload: R's identity (and offer)
//	I->R NOISE  -> s, se                  payload: I's identity
//	R->I NOISE  transport message {0x01}  "R accepted I" (keyed R->I)
//
// Either side may send ABORT instead of its next frame and stop; the other side
// is always reading at that point. A SendSession follows its ABORT(1) with
// TRIES, which an initiator told of a mismatch reads (waiting a second at
// most: an older sender sends none and closes) and returns as a
// MismatchError, so that the receiver can say how many tries are left as
// the sender counts them. TRIES is not authenticated (there is no key in
// common): someone in the middle can change the count, as it can drop the
// attempt; it changes only what the receiver is told, never what the
// session allows.
//
// CPace is draft-irtf-cfrg-cpace-21, suite CPACE-RISTR255-SHA512, in the
// initiator-responder setting (cpace.go; proven by the draft's Appendix B.3
// vectors in testdata/), with
//
//	PRS      = the code words joined by "-"               (the nameplate is not secret)
//	CI       = lv_cat("ferry/pair/1", nameplate:uint16be, I's peer ID, R's peer ID)
//	sid      = 16 random bytes chosen by I, sent in CPACE_A
//	ADa, ADb = "ferry/pair/1"                           (a version change changes the key)
//	ISK      = SHA-512(lv_cat("CPaceRistretto255_ISK", sid, K) || lv_cat(Ya,ADa) || lv_cat(Yb,ADb))
//
// Shares that do not decode, or decode to the identity, abort the run.
// The Noise handshake is Noise_XXpsk0_25519_ChaChaPoly_BLAKE2s (flynn/noise) with
//
//	psk      = HKDF-SHA256(ISK, salt empty, info "ferry/pair/1 noise psk from cpace isk", 32)
//	prologue = lv_cat("ferry/pair/1", I's peer ID, R's peer ID)
//	static s = X25519 key from HKDF-SHA256(libp2p private key, info "ferry/pair/1 noise static key", 32)
//
// and each identity payload is
//
//	version:byte(1) | u16be-len libp2p public key (crypto.MarshalPublicKey)
//	| u16be-len name | u16be-len software version | u16be-len offer | u16be-len signature
//	signature = libp2p key's signature over lv_cat("ferry identity signature v1",
//	            "ferry/pair/1", Noise static public key, name, version, offer)
//
// Names and versions are UTF-8 without controls, text-direction or other
// invisible format characters (CheckName; ErrBadName otherwise): a device
// refuses to present such a name and refuses one presented to it, so that a
// name shown to a user cannot disguise itself. Names in a trust store written
// before that rule are still read and shown through DisplayName.
//
// After each payload the receiving side checks that the public key hashes to the
// peer ID of the connection (Config.RemotePeer) and that the signature covers the
// static key the handshake just authenticated; otherwise ErrPeerMismatch.
// On success both sides hold each other's Device (peer ID, Noise static key,
// name, version, time) and, given a Store, record it in home/devices.json.
//
// Authenticate, for devices paired before, runs frames 3 to 6 only, as
// Noise_XX_25519_ChaChaPoly_BLAKE2s without a PSK and with "ferry/auth/1" in
// place of "ferry/pair/1" in the prologue and the signature; each side then
// requires the other's peer ID and Noise static key to be the pinned ones
// (ErrNotPaired otherwise). A device not in the trust store is told nothing.
//
// # Threat model
//
// The attacker sees and may change every byte between the devices (a shared
// Wi-Fi, a relay, a poisoned mDNS answer) but does not see the code.
//
// A recorded transcript gives no way to test a code guess offline. Ya and Yb
// are y*G(code) for secret random scalars: for every candidate code there is a
// scalar that explains them, so they are uniform group elements that carry no
// information about the code. ISK depends on K = ya*yb*G(code), which a guess of
// the code does not give without ya or yb (computational Diffie-Hellman), and
// everything later — Noise message 1 included — is keyed by ISK. The only way to
// test a guess is to run CPace with an honest device, one guess per run, and a
// SendSession allows 3 failed runs before it ends: 3 chances in 1,295^2
// (1 in 559,000) for a default code, and then the user sees the failures
// (EventAttemptFailed) and the session is over. Runs are served one at a time
// (so that no more guesses run at once than the count allows), but a run
// takes its turn only once its CPACE_A has arrived, and each step has
// SessionConfig.AttemptTimeout (10 s): a peer that opens a run and stays
// silent, or sends half a frame, keeps the right device waiting for nothing;
// it is cut off, reported and counted like a wrong code.
//
// A PSK made straight from the code would not have this property: Noise message
// 1 (-> psk, e) is sealed under a key that depends only on the PSK and public
// values, so one recorded message lets anyone try every code at leisure, at the
// cost of a few hashes per guess. offline_test.go does exactly that: the whole
// 16-bit code space against a naive Noise_XXpsk0 handshake costs about 0.6 CPU
// seconds (BenchmarkNaiveSearch16CPU; 0.3 s on two cores), and a default
// two-word code would fall in well under a minute. That is why a PAKE comes
// first.
//
// What a wrong code reveals: the responder answers CPACE_A with CPACE_B (random
// to anyone without the code) and, when Noise message 1 does not open, ABORT(1).
// Names, offers and static keys travel only inside Noise messages 2 and 3, which
// are sealed under the code-derived PSK and sent only after message 1 proved the
// code. Both sides report ErrCodeMismatch ("the code did not match") and nothing
// else (but, from a send session, how many more tries it allows: TRIES); a
// relay that rewrites any message in flight produces the same error.
//
// Binding: both peer IDs are in CI and in the Noise prologue, and each side's
// libp2p key signs its Noise static key. A relay that forwards bytes untouched
// between the right two devices changes nothing (they pair). A relay that
// presents its own peer ID to each side (as a poisoned mDNS answer would) makes
// the two sides compute different CI and prologue: both get ErrCodeMismatch. A
// party that knows the code but claims another device's peer ID cannot sign for
// it: ErrPeerMismatch.
//
// Out of scope: someone who learns the code (looking over a shoulder) and
// answers first pairs with that user's device as itself — its own peer ID and
// name, which the user is shown; denial of service (anyone on path can drop
// messages, or burn a session's three attempts); the nameplate, which is public.
// Ephemeral Diffie-Hellman in Noise gives forward secrecy to what the handshake
// protects.
package pairing

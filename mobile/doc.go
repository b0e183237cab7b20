// Package mobile is Ferry for an app on a phone, in the types gobind
// (golang.org/x/mobile) can carry to Java/Kotlin and Objective-C/Swift:
// strings, byte slices, integers, booleans, errors, structs of those, and
// interfaces for callbacks. Everything else goes as JSON: the configuration
// and options in, results and events out, in the JSON forms of package
// ferry's types (ferry.Event, ferry.Result, ferry.Stats, ...).
//
// A Device is one app's Ferry: NewDevice reads its configuration, Start
// starts it, Stop stops it (and every operation it runs); it can be started
// again. Send, Receive, Backup and Restore each start an Operation that runs
// in the background: its events reach the Listener given to the call, one
// JSON object a call, in order; WaitResult blocks until it ends and returns its
// result as JSON; Cancel stops it. Every error is a *Failure: a sentence
// for the user (its Error text), a hint, a stable code (ferry.ErrorCode)
// and whether running the same again resumes. A call that refuses its input
// (malformed JSON, a typo in a code) does so at once and changes nothing.
//
// # Networks and discovery on phones
//
// Android 11 and later refuse netlink to apps, so the Go runtime cannot list
// the network interfaces (net.Interfaces and net.InterfaceAddrs fail), and
// on iOS sending raw mDNS needs an entitlement. So the app may say what it
// sees instead:
//
//   - The configuration's "addresses" are the device's IP addresses on the local network,
//     as the platform reports them (Android's LinkProperties, iOS's
//     getifaddrs or NWPathMonitor). A send advertises these and puts them in
//     its ferry: link; nothing in Ferry then asks the system for its
//     interfaces. "listen", if set, are the IP addresses to listen on
//     (default: every interface, which needs no list of them either).
//
//   - "app_discovery" turns Ferry's own mDNS off and lets the app's
//     discovery do the job (Android's NsdManager, iOS's NWListener and
//     NWBrowser): a sender's Operation.Service says what to advertise (the
//     _ferry._tcp service's instance name, port, addresses and TXT record,
//     the same records Ferry's mDNS sends: see package p2p), and a receiver
//     is handed what the app's browsing found (Device.ServiceFound) and dials
//     the one whose nameplate is its code's (or, without a code, a paired
//     device).
//
// What the app's discovery hands over is not trusted: a service only says
// where to dial. Pairing still needs the code (CPace, package pairing), so a
// device on the network that advertises a service of its own, with the
// right nameplate or not, gets no history and can give none; a receiver
// that fails to pair with one service tries the next one found.
package mobile

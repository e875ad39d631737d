package web

import "time"

// Sessions. A login lasts SessionTTLDefault unless Options say otherwise;
// SessionsMax bounds the sessions held at once (the oldest goes first), so
// that logins in a loop cannot grow the server's memory.
const (
	SessionTTLDefault = 12 * time.Hour
	SessionsMax       = 256
)

// SessionCookie names the session cookie.
const SessionCookie = "agora_session"

// LoginBytesMax bounds a login form's body; FormBytesMax any other form's.
const (
	LoginBytesMax = 4 << 10
	FormBytesMax  = 16 << 10
)

// The live stream. A burst of events is sent as one update at most every
// StreamIntervalMin, well within the second the overview promises; a
// comment every StreamKeepAlive keeps proxies from closing a quiet stream.
const (
	StreamIntervalMin = 250 * time.Millisecond
	StreamKeepAlive   = 15 * time.Second
)

// FeedLengthDefault is how many recent money movements the overview's
// feed shows.
const FeedLengthDefault = 20

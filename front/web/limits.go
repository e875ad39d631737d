package web

import (
	"time"

	"github.com/agora-econ/agora/api/operator"
)

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

// The agents' pages: AgentsPage agents a page of the table; an agent's
// page shows its AgentMovesShown newest money movements, its first
// AgentMessagesShown messages and the last OutputTailBytes of its output
// log.
const (
	AgentsPage         = 100
	AgentMovesShown    = 50
	AgentMessagesShown = 50
	OutputTailBytes    = 16 << 10
)

// The charts: the history read model is read HistoryPageLimit points a
// page (the operator API's most), at most HistoryPagesMax pages a series
// (the read model keeps fewer points than that: history.points_max);
// the credits' histogram has DistributionBins bins.
const (
	HistoryPageLimit = operator.HistoryPointsMax
	HistoryPagesMax  = 100
	DistributionBins = 20
)

// The paged pages: BidsPage bids, TransactionsPage money movements a
// page; the attention page shows the ResponsesShown latest responses.
const (
	BidsPage         = 50
	TransactionsPage = 50
	ResponsesShown   = 20
)

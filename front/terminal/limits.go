package terminal

import "time"

// RequestTimeout bounds one call to the operator API, so that an economy
// that hangs is shown as not answering instead of freezing the screen.
const RequestTimeout = 5 * time.Second

// AnswerBytesMax bounds what is read of one answer.
const AnswerBytesMax = 16 << 20

// RefreshDefault is how often the dashboard asks the economy: twice a
// second, so what happens appears within a second.
const RefreshDefault = 500 * time.Millisecond

// ActivityLengthMax is how many lines of recent activity are asked for.
const ActivityLengthMax = 50

// AgentsListedMax is how many agents the dashboard asks for at a time.
const AgentsListedMax = 1000

// ScoreMax is the highest score of each of the three criteria (SPEC 1.5).
const ScoreMax = 10

// ReasonBytesMax bounds the reason the human may type.
const ReasonBytesMax = 500

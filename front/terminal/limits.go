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

// ReasonRunesMax bounds the reason the human may type: the API takes
// 4096 bytes of UTF-8, which 1024 characters never pass.
const ReasonRunesMax = 1024

// ResponsesShown is how many of the human's latest answers are shown.
const ResponsesShown = 5

// QueueShown is how many waiting prompts the queue pane lists.
const QueueShown = 10

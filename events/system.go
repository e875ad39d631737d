package events

// RecordsID is the id of the actor that keeps the operator's
// acknowledgements of skipped records: events.system.records.<type>.
const RecordsID = "records"

// RecordAcknowledged records that the operator has seen a record every
// follower skips (events.BadRecord) and accepts it: `agora status` stops
// counting it and `agora audit` passes over it. The record itself stays
// in the log, skipped; nothing else changes.
type RecordAcknowledged struct {
	// Seq is the stream sequence of the skipped record.
	Seq uint64 `json:"seq"`
	// Reason is the operator's note (why it is accepted), optional.
	Reason string `json:"reason,omitempty"`
}

func (RecordAcknowledged) EventType() string { return "record_acknowledged" }
func (RecordAcknowledged) EventSchema() int  { return 1 }

func init() { register(RecordAcknowledged{}) }

package directory

// LineageLengthMax bounds the ancestors kept in an agent's record, nearest
// first. Each record is then bounded however long a line of spawns grows;
// the parent links lead to the rest.
const LineageLengthMax = 64

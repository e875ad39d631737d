package bidbook

// BidsPageMax is the most bids one page may hold: a reader walks a large
// book page by page rather than copy it whole under the read lock.
const BidsPageMax = 500

// BidsPageDefault is the page size readers use when they name none.
const BidsPageDefault = 50

// cursorLengthMax bounds a cursor before it is decoded: a real one is
// about 140 characters, at most 251 (a 20-character amount, a 35-character
// time, a 64-character id and pool, in base64).
const cursorLengthMax = 256

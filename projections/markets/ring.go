package markets

import "github.com/agora-econ/agora/projections"

// ring is the recent-transactions buffer of this read model.
type ring = projections.Ring[Transaction]

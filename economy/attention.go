package economy

import (
	"github.com/agora-econ/agora/actors/attention"
	"github.com/agora-econ/agora/actors/runtime"
	"github.com/agora-econ/agora/projections"
	attnview "github.com/agora-econ/agora/projections/attention"
)

// attentionParts are the attention slot's parts of the economy: the
// manager that carries its work between the accounts, the slot and the
// attention market, the service the APIs and the schedule call, and its
// read model.
type attentionParts struct {
	manager *runtime.ManagerRunner
	service *attention.Service
	view    *attnview.View
	run     *projections.Runner
}

// wireAttention wires the slot: its manager follows the log with the
// others, its read model joins the group (admitted by the economy fold).
func (e *Economy) wireAttention() (err error) {
	n := e.node
	a := &e.attention
	if a.manager, err = runtime.NewManagerRunner(attention.Manager(), e.host, n.appendLog(), n.store, n.logger); err != nil {
		return err
	}
	e.follower.Add(a.manager)
	cfg := n.cfg
	r := cfg.Economy.AttentionConversionRates
	rules := attention.Rules{
		Rates: attention.Rates{Interesting: r.Interesting.Micros(), Useful: r.Useful.Micros(),
			Understandable: r.Understandable.Micros()},
		Expiry: cfg.Attention.PromptExpiry(),
		Price: eventsPriceRules(cfg.Allocation.HighMark, cfg.Allocation.LowMark, cfg.Allocation.PriceStepUp,
			cfg.Allocation.PriceStepDown),
	}
	if a.service, err = attention.NewService(e.host, e.accounts, a.manager, rules); err != nil {
		return err
	}
	a.view = attnview.New()
	if a.run, err = projections.NewRunner(n.log, a.view); err != nil {
		return err
	}
	a.run.AdmitWith(e.live.verdict)
	return nil
}

// Attention is the attention slot's service; nil WithLedgerOnly.
func (e *Economy) Attention() *attention.Service { return e.attention.service }

// AttentionView is the attention slot's read model; nil WithLedgerOnly.
func (e *Economy) AttentionView() *attnview.View { return e.attention.view }

// AttentionManager is the attention manager; nil WithLedgerOnly.
func (e *Economy) AttentionManager() *runtime.ManagerRunner { return e.attention.manager }

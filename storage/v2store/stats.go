package v2store

import (
	"encoding/json"
	"sync/atomic"
)

// Stats are the store's operation counters (/v2/stats/store); field names
// and order are etcd's.
type Stats struct {
	GetSuccess              uint64 `json:"getsSuccess"`
	GetFail                 uint64 `json:"getsFail"`
	SetSuccess              uint64 `json:"setsSuccess"`
	SetFail                 uint64 `json:"setsFail"`
	DeleteSuccess           uint64 `json:"deleteSuccess"`
	DeleteFail              uint64 `json:"deleteFail"`
	UpdateSuccess           uint64 `json:"updateSuccess"`
	UpdateFail              uint64 `json:"updateFail"`
	CreateSuccess           uint64 `json:"createSuccess"`
	CreateFail              uint64 `json:"createFail"`
	CompareAndSwapSuccess   uint64 `json:"compareAndSwapSuccess"`
	CompareAndSwapFail      uint64 `json:"compareAndSwapFail"`
	CompareAndDeleteSuccess uint64 `json:"compareAndDeleteSuccess"`
	CompareAndDeleteFail    uint64 `json:"compareAndDeleteFail"`
	ExpireCount             uint64 `json:"expireCount"`
	Watchers                uint64 `json:"watchers"`
}

// inc adds one to a counter of s; reads count concurrently.
func (s *Stats) inc(counter *uint64) { atomic.AddUint64(counter, 1) }

// snapshot is a consistent-enough copy of the counters.
func (s *Stats) snapshot() Stats {
	return Stats{
		GetSuccess: atomic.LoadUint64(&s.GetSuccess), GetFail: atomic.LoadUint64(&s.GetFail),
		SetSuccess: atomic.LoadUint64(&s.SetSuccess), SetFail: atomic.LoadUint64(&s.SetFail),
		DeleteSuccess: atomic.LoadUint64(&s.DeleteSuccess), DeleteFail: atomic.LoadUint64(&s.DeleteFail),
		UpdateSuccess: atomic.LoadUint64(&s.UpdateSuccess), UpdateFail: atomic.LoadUint64(&s.UpdateFail),
		CreateSuccess: atomic.LoadUint64(&s.CreateSuccess), CreateFail: atomic.LoadUint64(&s.CreateFail),
		CompareAndSwapSuccess: atomic.LoadUint64(&s.CompareAndSwapSuccess), CompareAndSwapFail: atomic.LoadUint64(&s.CompareAndSwapFail),
		CompareAndDeleteSuccess: atomic.LoadUint64(&s.CompareAndDeleteSuccess), CompareAndDeleteFail: atomic.LoadUint64(&s.CompareAndDeleteFail),
		ExpireCount: atomic.LoadUint64(&s.ExpireCount), Watchers: atomic.LoadUint64(&s.Watchers),
	}
}

// JSONStats is /v2/stats/store's body.
func (s *Store) JSONStats() []byte {
	st := s.stats.snapshot()
	st.Watchers = uint64(s.hub.watcherCount())
	b, _ := json.Marshal(st)
	return b
}

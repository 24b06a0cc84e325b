package raft

import (
	"errors"
	"math/rand/v2"
)

// None is the ID of nobody: no leader, no vote.
const None uint64 = 0

// Rand is the randomness raft uses to spread election timeouts; a seeded
// source makes a run reproducible. *math/rand/v2.Rand satisfies it.
type Rand interface {
	IntN(n int) int
}

// Logger receives raft's log lines. The server adapts zap to it.
type Logger interface {
	Debugf(format string, args ...any)
	Infof(format string, args ...any)
	Warningf(format string, args ...any)
}

type discardLogger struct{}

func (discardLogger) Debugf(string, ...any)   {}
func (discardLogger) Infof(string, ...any)    {}
func (discardLogger) Warningf(string, ...any) {}

// Config is what a raft member needs to start.
type Config struct {
	// ID identifies this member; it must not be None.
	ID uint64
	// ElectionTick is the number of Ticks a follower waits without hearing
	// from a leader before it campaigns; the actual timeout is drawn at
	// random from [ElectionTick, 2*ElectionTick). Must exceed HeartbeatTick.
	ElectionTick int
	// HeartbeatTick is the number of Ticks between a leader's heartbeats.
	HeartbeatTick int
	// Storage holds the persisted log; raft only reads it.
	Storage Storage
	// Applied is the last index the application applied before a restart;
	// committed entries at or below it are not handed out again.
	Applied uint64
	// MaxSizePerMsg caps the bytes of entries in one MsgApp (at least one
	// entry is always sent). 0 sends at most one entry per message.
	MaxSizePerMsg uint64
	// MaxCommittedSizePerReady caps the bytes of CommittedEntries in one
	// Ready. 0 means MaxSizePerMsg... unless that is 0 too: no limit.
	MaxCommittedSizePerReady uint64
	// MaxUncommittedEntriesSize caps the payload bytes a leader holds
	// uncommitted; proposals past it are refused. 0: no limit.
	MaxUncommittedEntriesSize uint64
	// MaxInflightMsgs is the number of MsgApps that may be in flight to one
	// follower while it is replicating.
	MaxInflightMsgs int
	// MaxInflightBytes caps the bytes in flight to one follower. 0: no limit.
	MaxInflightBytes uint64
	// CheckQuorum makes a leader step down when it has not heard from a
	// quorum within an election timeout, and makes followers ignore votes
	// while they hear from a leader (leader lease).
	CheckQuorum bool
	// PreVote runs a pre-election that does not bump terms, so that a
	// member rejoining after a partition does not disrupt a leader.
	PreVote bool
	// DisableProposalForwarding makes followers refuse proposals instead of
	// forwarding them to the leader.
	DisableProposalForwarding bool
	// Rand draws election timeouts. nil: a source seeded from ID.
	Rand Rand
	// Logger; nil discards.
	Logger Logger
}

func (c *Config) validate() error {
	if c.ID == None {
		return errors.New("raft: cannot use none as id")
	}
	if c.HeartbeatTick <= 0 {
		return errors.New("raft: heartbeat tick must be greater than 0")
	}
	if c.ElectionTick <= c.HeartbeatTick {
		return errors.New("raft: election tick must be greater than heartbeat tick")
	}
	if c.Storage == nil {
		return errors.New("raft: storage cannot be nil")
	}
	if c.MaxInflightMsgs <= 0 {
		return errors.New("raft: max inflight messages must be greater than 0")
	}
	if c.MaxInflightBytes != 0 && c.MaxInflightBytes < c.MaxSizePerMsg {
		return errors.New("raft: max inflight bytes must be >= max message size")
	}
	if c.MaxCommittedSizePerReady == 0 {
		c.MaxCommittedSizePerReady = c.MaxSizePerMsg
		if c.MaxCommittedSizePerReady == 0 {
			c.MaxCommittedSizePerReady = noLimit
		}
	}
	if c.MaxUncommittedEntriesSize == 0 {
		c.MaxUncommittedEntriesSize = noLimit
	}
	if c.Rand == nil {
		c.Rand = rand.New(rand.NewPCG(c.ID, 0x9e3779b97f4a7c15))
	}
	if c.Logger == nil {
		c.Logger = discardLogger{}
	}
	return nil
}

// Errors returned to a proposer. Every refused proposal is an
// ErrProposalDropped; the more specific errors say why.
var (
	ErrProposalDropped = errors.New("raft proposal dropped")
	// ErrNoLeader: there is no known leader to take the proposal.
	ErrNoLeader = wrapDropped("no leader")
	// ErrLeaderTransferInProgress: the leader is handing over leadership.
	ErrLeaderTransferInProgress = wrapDropped("leadership transfer in progress")
	// ErrProposalForwardingDisabled: this follower does not forward.
	ErrProposalForwardingDisabled = wrapDropped("proposal forwarding disabled on a follower")
	// ErrConfChangePending: a membership change is still unapplied.
	ErrConfChangePending = wrapDropped("a configuration change is already pending")
	// ErrUncommittedTooLarge: too many bytes are proposed and uncommitted.
	ErrUncommittedTooLarge = wrapDropped("too many uncommitted entries")
	// ErrNotMember: this member is not in the configuration.
	ErrNotMember = wrapDropped("not a member of the cluster")
	// ErrEmptyProposal: a proposal without entries.
	ErrEmptyProposal = wrapDropped("empty proposal")
)

type droppedError struct{ reason string }

func (e *droppedError) Error() string { return "raft proposal dropped: " + e.reason }
func (e *droppedError) Unwrap() error { return ErrProposalDropped }

func wrapDropped(reason string) error { return &droppedError{reason: reason} }

// Package ring is ringex's implementation of the LMAX Disruptor: a
// pre-allocated, power-of-two ring of fixed-size entries through which the
// stages of an asset's pipeline hand work to each other without locks,
// allocation or per-message interfaces.
//
// A Ring[T] holds Size entries of T. A producer claims one or more
// consecutive sequences (Claim), writes the entries in place (At) and
// publishes them (Publish). Consumers, declared before Start, each run a
// loop (Consumer.Run) that hands the whole range of sequences available to
// them to a Handler in one call, then releases that range by advancing
// their own sequence once.
//
// Sequences are int64 and start at 0; sequence s lives in slot s&(Size-1).
//
// # Topology and gating
//
// A consumer runs either behind the producers (no dependencies) or behind
// other consumers of the same ring, so that stages form pipelines and
// diamonds:
//
//	producers -> journal -> matcher
//	                     -> acker
//
// Two invariants make the ring safe, and everything else in the package is
// there to keep them cheaply:
//
//  1. A producer never overwrites a slot that the slowest last-stage
//     consumer (one that no other consumer depends on) has not released:
//     a claim of sequence s waits until every last-stage consumer has
//     handled s-Size. Because every consumer runs behind its dependencies,
//     the last stages are the slowest, so gating on them protects all.
//  2. A consumer never sees a sequence before all its dependencies have
//     released it: its barrier reports the minimum of their sequences (or,
//     with no dependencies, the highest contiguous published sequence).
//
// # Producers
//
// A single-producer ring (the default) claims with a plain add against a
// cached view of the slowest consumer and publishes with one atomic store.
// A multi-producer ring (Config.MultiProducer) claims with a compare-and-swap
// on a shared cursor and publishes by marking each slot available
// (the Disruptor's availability buffer), so consumers see only slots whose
// writers have finished, even when a later claim is published first.
//
// # Waiting
//
// What a goroutine does while the ring is empty (consumers) or full
// (producers) is the WaitStrategy chosen at construction: BusySpin for the
// lowest latency on dedicated cores, Yield, or Blocking, which spins briefly
// and then parks so that idle rings cost no CPU.
//
// # Groups
//
// A Group runs consumers of several rings on one goroutine: ringexd's
// journal reads one input ring per asset and commits what every ring has
// in one batch, instead of one commit per ring. The members are ordinary
// consumers (any element types; first-stage or behind other consumers of
// their own ring), handed to NewGroup before their rings start. Each pass
// of Group.Run collects every member's available range, hands the
// non-empty ones to GroupHandler.HandleGroup in one call, and then releases
// each of them, so both gating invariants hold member by member exactly as
// for a Consumer. A Blocking group parks on one doorbell, which every
// sequence a member waits on rings when it moves (and Close rings too), so
// a publish on any member's ring wakes it; on a ring outside any group the
// doorbell costs a Blocking publish one extra load.
//
// # Shutdown
//
// Close makes every later or blocked Claim fail with ErrClosed; each
// consumer handles everything published and then its Run returns nil.
// On a multi-producer ring, Close may race with producers: slots claimed
// before Close are still drained once published, so a producer that claimed
// must publish. On a single-producer ring, call Close from the producer's
// goroutine (or once it is blocked in Claim or gone): a Claim that succeeds
// concurrently with a Close from another goroutine may be published after
// the consumers have returned.
package ring

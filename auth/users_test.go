package auth

import "testing"

// TestLimitsDefaults: a zero field takes the default, but a user's own
// rate without a burst gets a tenth of a second at that rate (README,
// "Rate"), not the burst sized for the default rate.
func TestLimitsDefaults(t *testing.T) {
	def := Limits{Rate: 5000, Burst: 500, MaxSessions: 4}
	for _, c := range []struct {
		user, want Limits
	}{
		{Limits{}, def},
		{Limits{Rate: 500}, Limits{Rate: 500, Burst: 50, MaxSessions: 4}},
		{Limits{Rate: 5}, Limits{Rate: 5, Burst: 1, MaxSessions: 4}},
		{Limits{Rate: 500, Burst: 7}, Limits{Rate: 500, Burst: 7, MaxSessions: 4}},
		{Limits{Burst: 9, MaxSessions: 1}, Limits{Rate: 5000, Burst: 9, MaxSessions: 1}},
		{Limits{Rate: -1}, Limits{Rate: -1, Burst: 500, MaxSessions: 4}},
	} {
		if got := c.user.orDefault(def); got != c.want {
			t.Errorf("%+v with defaults %+v: %+v, want %+v", c.user, def, got, c.want)
		}
	}
}

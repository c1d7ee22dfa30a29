package org.hyperdmabuf.daemon;

import org.hyperdmabuf.abi.Limits;
import org.hyperdmabuf.abi.UEvent;
import org.hyperdmabuf.abi.v1.ErrorCode;
import org.hyperdmabuf.abi.v1.Match;
import org.hyperdmabuf.abi.v1.MatchRule;

import java.util.List;

/**
 * A subscription's match rules: the event passes if any rule matches (OR); a rule matches if all of its
 * matches hold (AND). A match on a key the event lacks compares against the empty string, as udev does.
 */
public final class EventFilter
{
    private final List<MatchRule> rules;
    private final int cost;

    private EventFilter(final List<MatchRule> rules, final int cost)
    {
        this.rules = rules;
        this.cost = cost;
    }

    /**
     * What testing one event may cost, in glob characters (each match counts its glob plus one): matching is
     * O(glob x value), so the daemon bounds the sum per connection ({@link Limits#MAX_GLOB_CHARS_PER_CLIENT}).
     */
    public int cost()
    {
        return cost;
    }

    public static EventFilter of(final List<MatchRule> rules) throws ApiException
    {
        if (rules.size() > Limits.MAX_MATCH_RULES)
        {
            throw new ApiException(ErrorCode.EINVAL, rules.size() + " match rules, limit " + Limits.MAX_MATCH_RULES);
        }
        int cost = 0;
        for (final MatchRule rule : rules)
        {
            if (rule.getMatchesCount() > Limits.MAX_MATCHES_PER_RULE)
            {
                throw new ApiException(ErrorCode.EINVAL, rule.getMatchesCount() + " matches in a rule, limit " +
                    Limits.MAX_MATCHES_PER_RULE);
            }
            for (final Match m : rule.getMatchesList())
            {
                if (m.getKey().isEmpty() || m.getKey().length() > 64 || m.getGlob().length() > 256)
                {
                    throw new ApiException(ErrorCode.EINVAL, "match key must be 1..64 and glob at most 256 characters");
                }
                cost += m.getGlob().length() + 1;
            }
        }
        return new EventFilter(List.copyOf(rules), cost);
    }

    public boolean test(final UEvent event)
    {
        if (rules.isEmpty())
        {
            return true;
        }
        for (final MatchRule rule : rules)
        {
            boolean all = true;
            for (final Match m : rule.getMatchesList())
            {
                final String value = event.get(m.getKey());
                final boolean hit = Glob.matches(m.getGlob(), value == null ? "" : value);
                if (hit == m.getNegate())
                {
                    all = false;
                    break;
                }
            }
            if (all)
            {
                return true;
            }
        }
        return false;
    }
}

package org.hyperdmabuf.cli;

import org.hyperdmabuf.abi.v1.Match;
import org.hyperdmabuf.abi.v1.MatchRule;

import java.util.ArrayList;
import java.util.List;

/** Parses command-line filters: {@code KEY=GLOB} or {@code KEY!=GLOB}; a rule is comma-separated matches. */
final class MatchRules
{
    private MatchRules()
    {
    }

    /** Each {@code --rule} is one OR-alternative; all {@code --match} together form one more rule. */
    static List<MatchRule> parse(final List<String> rules, final List<String> matches)
    {
        final List<MatchRule> out = new ArrayList<>();
        for (final String rule : rules)
        {
            out.add(rule(List.of(rule.split(","))));
        }
        if (!matches.isEmpty())
        {
            out.add(rule(matches));
        }
        return out;
    }

    private static MatchRule rule(final List<String> matches)
    {
        final MatchRule.Builder r = MatchRule.newBuilder();
        for (final String m : matches)
        {
            final int ne = m.indexOf("!=");
            final int eq = m.indexOf('=');
            if (eq <= 0)
            {
                throw new IllegalArgumentException("match must be KEY=GLOB or KEY!=GLOB: " + m);
            }
            final boolean negate = ne > 0 && ne < eq;
            r.addMatches(Match.newBuilder().setKey(m.substring(0, negate ? ne : eq).trim())
                .setGlob(m.substring(eq + 1)).setNegate(negate));
        }
        return r.build();
    }
}

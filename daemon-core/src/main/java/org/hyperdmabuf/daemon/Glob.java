package org.hyperdmabuf.daemon;

/**
 * udev-rule-style glob matching: {@code *} any run, {@code ?} one character, {@code [abc]} / {@code [a-z]}
 * / {@code [!a-z]} a class, {@code |} separates alternatives ("video/*|audio/*"). Iterative with
 * backtracking on the last star only, so a hostile pattern costs O(pattern x text).
 */
public final class Glob
{
    private Glob()
    {
    }

    public static boolean matches(final String pattern, final String text)
    {
        for (final String alternative : pattern.split("\\|", -1))
        {
            if (matchOne(alternative, text))
            {
                return true;
            }
        }
        return false;
    }

    private static boolean matchOne(final String p, final String t)
    {
        int pi = 0;
        int ti = 0;
        int starP = -1;
        int starT = 0;
        while (ti < t.length())
        {
            if (pi < p.length() && p.charAt(pi) == '*')
            {
                starP = pi++;
                starT = ti;
                continue;
            }
            if (pi < p.length())
            {
                final int consumed = matchChar(p, pi, t.charAt(ti));
                if (consumed > 0)
                {
                    pi += consumed;
                    ti++;
                    continue;
                }
            }
            if (starP >= 0)
            {
                pi = starP + 1;
                ti = ++starT;
                continue;
            }
            return false;
        }
        while (pi < p.length() && p.charAt(pi) == '*')
        {
            pi++;
        }
        return pi == p.length();
    }

    /** Length of the pattern element at {@code pi} if it matches {@code c}, else 0. */
    private static int matchChar(final String p, final int pi, final char c)
    {
        final char pc = p.charAt(pi);
        if (pc == '?')
        {
            return 1;
        }
        if (pc == '[')
        {
            int i = pi + 1;
            final boolean negate = i < p.length() && (p.charAt(i) == '!' || p.charAt(i) == '^');
            if (negate)
            {
                i++;
            }
            boolean hit = false;
            final int first = i;
            while (i < p.length() && (p.charAt(i) != ']' || i == first))
            {
                if (i + 2 < p.length() && p.charAt(i + 1) == '-' && p.charAt(i + 2) != ']')
                {
                    hit |= c >= p.charAt(i) && c <= p.charAt(i + 2);
                    i += 3;
                }
                else
                {
                    hit |= c == p.charAt(i);
                    i++;
                }
            }
            if (i >= p.length())
            {
                return pc == c ? 1 : 0; // unterminated class: literal '['
            }
            return hit != negate ? i - pi + 1 : 0;
        }
        return pc == c ? 1 : 0;
    }
}

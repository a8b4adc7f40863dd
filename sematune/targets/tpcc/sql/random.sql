-- Random helpers (clause 2.1.6 and 4.3.2): uniform ints, NURand, last names, a-/n-strings.
-- C constants: C_LAST at load 157, at run 223 (delta 66, allowed by 2.1.6.1); C_ID 259; OL_I_ID 7911.
-- They are single-expression SQL functions, so the planner inlines them into the loader's
-- INSERT ... SELECT (arguments are constants or plain columns for that reason).

CREATE OR REPLACE FUNCTION tpcc_rand(lo int, hi int) RETURNS int
LANGUAGE sql VOLATILE PARALLEL SAFE AS
$$ SELECT lo + floor(random() * (hi - lo + 1))::int $$;

CREATE OR REPLACE FUNCTION tpcc_nurand(a int, x int, y int, c int) RETURNS int
LANGUAGE sql VOLATILE PARALLEL SAFE AS
$$ SELECT (((tpcc_rand(0, a) | tpcc_rand(x, y)) + c) % (y - x + 1)) + x $$;

-- The customer last name for 0 <= n <= 999: three syllables, one per decimal digit.
CREATE OR REPLACE FUNCTION tpcc_lastname(n int) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
$$ SELECT ('{BAR,OUGHT,ABLE,PRI,PRES,ESE,ANTI,CALLY,ATION,EING}'::text[])[n / 100 + 1]
       || ('{BAR,OUGHT,ABLE,PRI,PRES,ESE,ANTI,CALLY,ATION,EING}'::text[])[(n / 10) % 10 + 1]
       || ('{BAR,OUGHT,ABLE,PRI,PRES,ESE,ANTI,CALLY,ATION,EING}'::text[])[n % 10 + 1] $$;

-- A random alphanumeric a-string of length lo..hi (hi <= 512), built from an md5 digest.
CREATE OR REPLACE FUNCTION tpcc_astr(lo int, hi int) RETURNS text
LANGUAGE sql VOLATILE PARALLEL SAFE AS
$$ SELECT left(repeat(md5(random()::text), (hi + 31) / 32), tpcc_rand(lo, hi)) $$;

-- A random n-string (digits) of length n <= 18.
CREATE OR REPLACE FUNCTION tpcc_nstr(n int) RETURNS text
LANGUAGE sql VOLATILE PARALLEL SAFE AS
$$ SELECT lpad(floor(random() * (10::numeric ^ n))::bigint::text, n, '0') $$;

-- I_DATA / S_DATA (4.3.3.1): an a-string of 26..50, with "ORIGINAL" inside it 10% of the time.
CREATE OR REPLACE FUNCTION tpcc_data() RETURNS text
LANGUAGE sql VOLATILE PARALLEL SAFE AS
$$ SELECT CASE WHEN random() < 0.1 THEN tpcc_astr(9, 21) || 'ORIGINAL' || tpcc_astr(9, 21)
               ELSE tpcc_astr(26, 50) END $$;

CREATE OR REPLACE FUNCTION tpcc_zip() RETURNS text
LANGUAGE sql VOLATILE PARALLEL SAFE AS
$$ SELECT tpcc_nstr(4) || '11111' $$;

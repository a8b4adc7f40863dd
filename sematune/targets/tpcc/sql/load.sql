-- Server-side loader (clause 4.3.3.1): one call for the items, one per warehouse (these can
-- run in parallel on separate connections). Cardinalities are exactly the spec's.

CREATE OR REPLACE FUNCTION tpcc_load_items() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO item
    SELECT i, tpcc_rand(1, 10000), tpcc_astr(14, 24), tpcc_rand(100, 10000) / 100.0, tpcc_data()
    FROM generate_series(1, 100000) AS i;
END $$;

CREATE OR REPLACE FUNCTION tpcc_load_warehouse(w int) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO warehouse
    VALUES (w, tpcc_astr(6, 10), tpcc_astr(10, 20), tpcc_astr(10, 20), tpcc_astr(10, 20),
            tpcc_astr(2, 2), tpcc_zip(), tpcc_rand(0, 2000) / 10000.0, 300000.00);

    INSERT INTO district
    SELECT d, w, tpcc_astr(6, 10), tpcc_astr(10, 20), tpcc_astr(10, 20), tpcc_astr(10, 20),
           tpcc_astr(2, 2), tpcc_zip(), tpcc_rand(0, 2000) / 10000.0, 30000.00, 3001
    FROM generate_series(1, 10) AS d;

    -- The ten S_DIST_xx are 24-character windows of one 64-character random string per row.
    INSERT INTO stock
    SELECT i, w, tpcc_rand(10, 100),
           substr(r, 1, 24), substr(r, 5, 24), substr(r, 9, 24), substr(r, 13, 24), substr(r, 17, 24),
           substr(r, 21, 24), substr(r, 25, 24), substr(r, 29, 24), substr(r, 33, 24), substr(r, 37, 24),
           0, 0, 0, tpcc_data()
    FROM (SELECT i, md5(random()::text) || md5(random()::text) AS r
          FROM generate_series(1, 100000) AS i OFFSET 0) AS s;

    -- The first 1000 customers of a district take the 1000 last names in order, the rest NURand.
    INSERT INTO customer
    SELECT c, d, w, tpcc_astr(8, 16), 'OE', tpcc_lastname(n),
           tpcc_astr(10, 20), tpcc_astr(10, 20), tpcc_astr(10, 20), tpcc_astr(2, 2), tpcc_zip(),
           tpcc_nstr(16), now(), CASE WHEN random() < 0.1 THEN 'BC' ELSE 'GC' END, 50000.00,
           tpcc_rand(0, 5000) / 10000.0, -10.00, 10.00, 1, 0, tpcc_astr(300, 500)
    FROM (SELECT d, c, CASE WHEN c <= 1000 THEN c - 1 ELSE tpcc_nurand(255, 0, 999, 157) END AS n
          FROM generate_series(1, 10) AS d, generate_series(1, 3000) AS c OFFSET 0) AS names;

    INSERT INTO history
    SELECT c, d, w, d, w, now(), 10.00, tpcc_astr(12, 24)
    FROM generate_series(1, 10) AS d, generate_series(1, 3000) AS c;

    -- O_C_ID is a random permutation of 1..3000 per district.
    INSERT INTO orders
    SELECT o, d, w, c, now(), CASE WHEN o < 2101 THEN tpcc_rand(1, 10) END, tpcc_rand(5, 15), 1
    FROM (SELECT d, c, row_number() OVER (PARTITION BY d ORDER BY random())::int AS o
          FROM generate_series(1, 10) AS d, generate_series(1, 3000) AS c) AS perm;

    INSERT INTO order_line
    SELECT o_id, o_d_id, o_w_id, n, tpcc_rand(1, 100000), o_w_id,
           CASE WHEN o_id < 2101 THEN o_entry_d END, 5,
           CASE WHEN o_id < 2101 THEN 0.00 ELSE tpcc_rand(1, 999999) / 100.0 END,
           tpcc_astr(24, 24)
    FROM orders, generate_series(1, o_ol_cnt) AS n
    WHERE o_w_id = w;

    INSERT INTO new_order
    SELECT o, d, w
    FROM generate_series(1, 10) AS d, generate_series(2101, 3000) AS o;
END $$;

-- The five TPC-C transactions (clauses 2.4-2.8) as one function each, so each is a single
-- round trip. Inputs are drawn server-side; the caller passes the terminal's home warehouse
-- (and district for Stock-Level) and the number of warehouses. Lock order, to stay free of
-- deadlocks: warehouse -> district -> customer; stock rows sorted by (supply warehouse, item).

-- New-Order (2.4): returns 1 if committed, 0 for the spec's 1% rollback (an unused item id).
CREATE OR REPLACE FUNCTION tpcc_new_order(p_w int, p_nw int) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
    v_d int := tpcc_rand(1, 10);
    v_c int := tpcc_nurand(1023, 1, 3000, 259);
    v_cnt int := tpcc_rand(5, 15);
    v_rbk boolean := tpcc_rand(1, 100) = 1;
    v_items int[] := '{}';
    v_supply int[] := '{}';
    v_qty int[] := '{}';
    v_all_local int := 1;
    v_o int;
    v_w_tax numeric;
    v_d_tax numeric;
    v_disc numeric;
    v_last text;
    v_credit text;
    v_price numeric;
    v_name text;
    v_dist text;
    v_total numeric := 0;
    v_sw int;
    n int;
    line record;
BEGIN
    FOR n IN 1..v_cnt LOOP
        v_items := v_items || tpcc_nurand(8191, 1, 100000, 7911);
        v_sw := p_w;
        IF p_nw > 1 AND tpcc_rand(1, 100) = 1 THEN
            v_sw := tpcc_rand(1, p_nw - 1);
            IF v_sw >= p_w THEN v_sw := v_sw + 1; END IF;
            v_all_local := 0;
        END IF;
        v_supply := v_supply || v_sw;
        v_qty := v_qty || tpcc_rand(1, 10);
    END LOOP;
    IF v_rbk THEN
        v_items[v_cnt] := 100001;
    END IF;
    BEGIN
        SELECT w_tax INTO v_w_tax FROM warehouse WHERE w_id = p_w;
        UPDATE district SET d_next_o_id = d_next_o_id + 1
         WHERE d_w_id = p_w AND d_id = v_d
        RETURNING d_tax, d_next_o_id - 1 INTO v_d_tax, v_o;
        SELECT c_discount, c_last, c_credit INTO v_disc, v_last, v_credit
          FROM customer WHERE c_w_id = p_w AND c_d_id = v_d AND c_id = v_c;
        INSERT INTO orders (o_id, o_d_id, o_w_id, o_c_id, o_entry_d, o_carrier_id, o_ol_cnt, o_all_local)
        VALUES (v_o, v_d, p_w, v_c, now(), NULL, v_cnt, v_all_local);
        INSERT INTO new_order (no_o_id, no_d_id, no_w_id) VALUES (v_o, v_d, p_w);
        FOR line IN
            SELECT t.i, t.sw, t.q, t.ln::int AS ln
              FROM unnest(v_items, v_supply, v_qty) WITH ORDINALITY AS t(i, sw, q, ln)
             ORDER BY t.sw, t.i
        LOOP
            SELECT i_price, i_name INTO v_price, v_name FROM item WHERE i_id = line.i;
            IF NOT FOUND THEN
                RAISE EXCEPTION 'Item number is not valid' USING ERRCODE = 'TPCC1';
            END IF;
            UPDATE stock
               SET s_quantity = CASE WHEN s_quantity >= line.q + 10 THEN s_quantity - line.q
                                     ELSE s_quantity - line.q + 91 END,
                   s_ytd = s_ytd + line.q,
                   s_order_cnt = s_order_cnt + 1,
                   s_remote_cnt = s_remote_cnt + (line.sw <> p_w)::int
             WHERE s_w_id = line.sw AND s_i_id = line.i
            RETURNING CASE v_d WHEN 1 THEN s_dist_01 WHEN 2 THEN s_dist_02 WHEN 3 THEN s_dist_03
                               WHEN 4 THEN s_dist_04 WHEN 5 THEN s_dist_05 WHEN 6 THEN s_dist_06
                               WHEN 7 THEN s_dist_07 WHEN 8 THEN s_dist_08 WHEN 9 THEN s_dist_09
                               ELSE s_dist_10 END
            INTO v_dist;
            INSERT INTO order_line (ol_o_id, ol_d_id, ol_w_id, ol_number, ol_i_id, ol_supply_w_id,
                                    ol_delivery_d, ol_quantity, ol_amount, ol_dist_info)
            VALUES (v_o, v_d, p_w, line.ln, line.i, line.sw, NULL, line.q, line.q * v_price, v_dist);
            v_total := v_total + line.q * v_price;
        END LOOP;
        v_total := v_total * (1 - v_disc) * (1 + v_w_tax + v_d_tax);
        RETURN 1;
    EXCEPTION WHEN SQLSTATE 'TPCC1' THEN
        RETURN 0;
    END;
END $$;

-- Payment (2.5): 60% of customers chosen by last name, 15% from a remote warehouse.
CREATE OR REPLACE FUNCTION tpcc_payment(p_w int, p_nw int) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
    v_d int := tpcc_rand(1, 10);
    v_amount numeric := tpcc_rand(100, 500000) / 100.0;
    v_cw int := p_w;
    v_cd int;
    v_c int;
    v_last text;
    v_n int;
    v_wname text;
    v_dname text;
BEGIN
    v_cd := v_d;
    IF p_nw > 1 AND tpcc_rand(1, 100) <= 15 THEN
        v_cw := tpcc_rand(1, p_nw - 1);
        IF v_cw >= p_w THEN v_cw := v_cw + 1; END IF;
        v_cd := tpcc_rand(1, 10);
    END IF;
    UPDATE warehouse SET w_ytd = w_ytd + v_amount WHERE w_id = p_w RETURNING w_name INTO v_wname;
    UPDATE district SET d_ytd = d_ytd + v_amount
     WHERE d_w_id = p_w AND d_id = v_d RETURNING d_name INTO v_dname;
    IF tpcc_rand(1, 100) <= 60 THEN
        v_last := tpcc_lastname(tpcc_nurand(255, 0, 999, 223));
        SELECT count(*) INTO v_n FROM customer WHERE c_w_id = v_cw AND c_d_id = v_cd AND c_last = v_last;
        SELECT c_id INTO v_c FROM customer
         WHERE c_w_id = v_cw AND c_d_id = v_cd AND c_last = v_last
         ORDER BY c_first OFFSET (v_n - 1) / 2 LIMIT 1;
    ELSE
        v_c := tpcc_nurand(1023, 1, 3000, 259);
    END IF;
    UPDATE customer
       SET c_balance = c_balance - v_amount,
           c_ytd_payment = c_ytd_payment + v_amount,
           c_payment_cnt = c_payment_cnt + 1,
           c_data = CASE WHEN c_credit = 'BC'
                         THEN left(concat_ws(' ', v_c, v_cd, v_cw, v_d, p_w, v_amount) || ' | ' || c_data, 500)
                         ELSE c_data END
     WHERE c_w_id = v_cw AND c_d_id = v_cd AND c_id = v_c;
    INSERT INTO history (h_c_id, h_c_d_id, h_c_w_id, h_d_id, h_w_id, h_date, h_amount, h_data)
    VALUES (v_c, v_cd, v_cw, v_d, p_w, now(), v_amount, left(v_wname || '    ' || v_dname, 24));
    RETURN 1;
END $$;

-- Order-Status (2.6, read-only): the customer's last order and its lines.
CREATE OR REPLACE FUNCTION tpcc_order_status(p_w int) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
    v_d int := tpcc_rand(1, 10);
    v_c int;
    v_last text;
    v_n int;
    v_balance numeric;
    v_o int;
    v_lines int;
BEGIN
    IF tpcc_rand(1, 100) <= 60 THEN
        v_last := tpcc_lastname(tpcc_nurand(255, 0, 999, 223));
        SELECT count(*) INTO v_n FROM customer WHERE c_w_id = p_w AND c_d_id = v_d AND c_last = v_last;
        SELECT c_id, c_balance INTO v_c, v_balance FROM customer
         WHERE c_w_id = p_w AND c_d_id = v_d AND c_last = v_last
         ORDER BY c_first OFFSET (v_n - 1) / 2 LIMIT 1;
    ELSE
        v_c := tpcc_nurand(1023, 1, 3000, 259);
        SELECT c_balance INTO v_balance FROM customer WHERE c_w_id = p_w AND c_d_id = v_d AND c_id = v_c;
    END IF;
    SELECT o_id INTO v_o FROM orders
     WHERE o_w_id = p_w AND o_d_id = v_d AND o_c_id = v_c ORDER BY o_id DESC LIMIT 1;
    SELECT count(*) INTO v_lines FROM (
        SELECT ol_i_id, ol_supply_w_id, ol_quantity, ol_amount, ol_delivery_d FROM order_line
         WHERE ol_w_id = p_w AND ol_d_id = v_d AND ol_o_id = v_o) AS lines;
    RETURN v_lines;
END $$;

-- Delivery (2.7): the oldest undelivered order of each district (SKIP LOCKED keeps
-- concurrent deliveries from queueing on the same row). Returns the districts delivered.
CREATE OR REPLACE FUNCTION tpcc_delivery(p_w int) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
    v_carrier int := tpcc_rand(1, 10);
    v_d int;
    v_o int;
    v_c int;
    v_amount numeric;
    v_done int := 0;
BEGIN
    FOR v_d IN 1..10 LOOP
        SELECT no_o_id INTO v_o FROM new_order
         WHERE no_w_id = p_w AND no_d_id = v_d ORDER BY no_o_id LIMIT 1 FOR UPDATE SKIP LOCKED;
        CONTINUE WHEN NOT FOUND;
        DELETE FROM new_order WHERE no_w_id = p_w AND no_d_id = v_d AND no_o_id = v_o;
        UPDATE orders SET o_carrier_id = v_carrier
         WHERE o_w_id = p_w AND o_d_id = v_d AND o_id = v_o RETURNING o_c_id INTO v_c;
        WITH delivered AS (
            UPDATE order_line SET ol_delivery_d = now()
             WHERE ol_w_id = p_w AND ol_d_id = v_d AND ol_o_id = v_o RETURNING ol_amount)
        SELECT coalesce(sum(ol_amount), 0) INTO v_amount FROM delivered;
        UPDATE customer SET c_balance = c_balance + v_amount, c_delivery_cnt = c_delivery_cnt + 1
         WHERE c_w_id = p_w AND c_d_id = v_d AND c_id = v_c;
        v_done := v_done + 1;
    END LOOP;
    RETURN v_done;
END $$;

-- Stock-Level (2.8, read-only): distinct items of the district's last 20 orders below a threshold.
CREATE OR REPLACE FUNCTION tpcc_stock_level(p_w int, p_d int) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
    v_threshold int := tpcc_rand(10, 20);
    v_next int;
    v_n int;
BEGIN
    SELECT d_next_o_id INTO v_next FROM district WHERE d_w_id = p_w AND d_id = p_d;
    SELECT count(DISTINCT s_i_id) INTO v_n
      FROM order_line JOIN stock ON s_w_id = p_w AND s_i_id = ol_i_id
     WHERE ol_w_id = p_w AND ol_d_id = p_d AND ol_o_id >= v_next - 20 AND ol_o_id < v_next
       AND s_quantity < v_threshold;
    RETURN v_n;
END $$;

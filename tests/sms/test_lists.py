"""Personalised lists read from CSV: headers, every row checked, duplicates, damaged numbers, limits."""

import pytest

from bot.sms.lists import ListError, read_list

TEMPLATE = "Hi {first_name}, order {order} is ready"


def test_headers_become_placeholders_and_each_row_gets_its_own_text():
    data = "Mobile,First Name,Order\n0831234567,Thandi,1234\n+27821234567,Zoë,99\n".encode()
    read = read_list(data, TEMPLATE, "ZA")
    assert read.plan.recipients == ["27831234567", "27821234567"]
    assert read.plan.texts == ["Hi Thandi, order 1234 is ready", "Hi Zoë, order 99 is ready"]
    assert read.plan.part_counts == [1, 1] and read.plan.credits == 2


def test_semicolons_a_bom_and_blank_lines_are_read():
    data = "\ufeffphone;first name;order\r\n27831234567;Sipho;7\r\n\r\n".encode()
    read = read_list(data, TEMPLATE, None)
    assert read.plan.texts == ["Hi Sipho, order 7 is ready"] and read.rows == 1


def test_bad_rows_are_listed_by_row_number_first_20_then_a_count():
    rows = ["number,first_name,order"] + [f"12ab{i},A,{i}" for i in range(25)] + ["27831234567,B,1"]
    with pytest.raises(ListError) as refused:
        read_list("\n".join(rows).encode(), TEMPLATE, None)
    text = str(refused.value)
    assert "25 of 26 rows can't be sent" in text and "row 2:" in text and "row 21:" in text
    assert "row 22:" not in text and "…and 5 more bad rows" in text


def test_a_spreadsheet_damaged_number_is_refused_with_the_fix():
    with pytest.raises(ListError) as refused:
        read_list(b"number,first_name,order\n2.78E+10,A,1\n", TEMPLATE, "ZA")
    assert "row 2" in str(refused.value) and "format the number column as text" in str(refused.value)


def test_duplicates_keep_the_first_row_and_are_reported():
    data = b"number,first_name,order\n27831234567,A,1\n0831234567,B,2\n27821234567,C,3\n"
    read = read_list(data, TEMPLATE, "ZA")
    assert read.plan.texts == ["Hi A, order 1 is ready", "Hi C, order 3 is ready"]
    assert read.duplicates == [(3, "27831234567", 2)]


def test_texts_that_differ_in_length_give_a_parts_range_and_exact_credits():
    data = ("number,first_name,order\n27831234567,A,1\n27821234567," + "B" * 200 + ",2\n").encode()
    read = read_list(data, TEMPLATE, None)
    assert read.plan.parts_range == (1, 2) and read.plan.credits == 3  # 1 + 2 parts, GSM-7: 160, 153/part


@pytest.mark.parametrize(
    "data, words",
    [
        (b"name,order\nA,1\n", "no column of numbers"),
        (b"number,phone,first_name,order\n1,2,A,1\n", "more than one"),
        (b"number,order\n27831234567,1\n", "`{first_name}`"),
        ("number,first_name,order\n27831234567,é,1\n".encode("latin-1"), "not UTF-8"),
        (b"x" * (1024 * 1024 + 1), "1 MiB"),
        (b"number,first_name,order\n", "no rows"),
    ],
)
def test_a_list_that_cannot_be_read_says_how_to_fix_it(data, words):
    with pytest.raises(ListError) as refused:
        read_list(data, TEMPLATE, None)
    assert words in str(refused.value)


def test_more_rows_than_the_limit_are_refused_naming_the_setting():
    data = ("number,first_name,order\n" + "27831234567,A,1\n" * 11).encode()
    with pytest.raises(ListError) as refused:
        read_list(data, TEMPLATE, None, max_rows=10)
    assert "up to 10" in str(refused.value) and "SMSBOT_MAX_LIST_ROWS" in str(refused.value)
